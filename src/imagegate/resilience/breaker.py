"""`CircuitBreaker` per (route, size), and `BreakerRegistry` that keeps one per key.

States and transitions::

                 failure rate, slow-call rate or
                 consecutive failures over the window
       CLOSED ──────────────────────────────────────▶ OPEN ◀─────────────┐
         ▲                                             │                  │ a probe fails
         │ half_open_probes probes succeed              │ cool-down over   │ (cool-down grows)
         │                                             ▼                  │
         └──────────────────────────────────────── HALF_OPEN ─────────────┘

    QuotaExhausted in any state → OPEN until the quota's ``reset_at``

- *Closed*: every call is let through and its outcome goes into a sliding window of
  ``window_s`` clock seconds (``window_buckets`` buckets). It opens when the window holds at
  least ``min_calls`` calls and ``failures / calls >= failure_rate`` or ``slow / calls >=
  slow_call_rate`` (a call is slow when it took ``>= slow_call_s``), or after
  ``consecutive_failures`` failures in a row.
- *Open*: nothing is let through for the cool-down
  ``min(cooldown_max_s, cooldown_s · cooldown_multiplier ** level)``, where ``level`` counts
  failed probes since the breaker was last closed.
- *Half-open*: at most ``half_open_probes`` probe calls at a time; once that many have
  succeeded it closes (and the level resets); one failed or slow probe reopens it one
  level up. A probe permit that is never reported expires after ``probe_timeout_s``.

Which errors count (`BreakerPolicy.failure_types`): `Overloaded`, `DeadlineExceeded`,
`TransportError`, `UpstreamError`, `RateLimited` (429 "below the published quota" means the
route is refusing us now; failing over beats hammering it) and `AuthenticationError`.
Everything else — `ContentBlocked`, `InvalidRequestError`, `NoImageReturned` (a text
refusal: the service worked), cancellations — is *neutral*: it only frees the permit.
`QuotaExhausted` does not count as a sample; it forces the breaker open until the reset.

Keys are independent: 4K failing on a route opens only its 4K breaker. The state is one
`BreakerRecord` per key changed by the pure operations `BreakerAcquire` and `BreakerReport`,
so a shared backend gives a fleet one breaker (docs/scaling.md). Open → half-open happens lazily,
at the first decision after the cool-down.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from imagegate._logging import get_logger
from imagegate.errors import (
    AuthenticationError,
    DeadlineExceeded,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.state import MemoryState, StateBackend, Step

__all__ = [
    "DEFAULT_FAILURE_TYPES",
    "BreakerAcquire",
    "BreakerPermit",
    "BreakerPolicy",
    "BreakerRecord",
    "BreakerRegistry",
    "BreakerRegistryStatistics",
    "BreakerReport",
    "BreakerState",
    "BreakerStatistics",
    "BreakerTransition",
    "CircuitBreaker",
]

BreakerState = Literal["closed", "open", "half_open"]
"""Where a breaker is: letting calls through, refusing them, or probing."""

Outcome = Literal["success", "failure", "neutral", "quota"]

DEFAULT_FAILURE_TYPES: tuple[type[BaseException], ...] = (
    Overloaded,
    DeadlineExceeded,
    TransportError,
    UpstreamError,
    RateLimited,
    AuthenticationError,
)
"""Errors that count as failures by default (see the module docstring)."""

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When a breaker opens, how long it stays open, and how it probes.

    Args:
        failure_rate: Open when failures / calls in the window reach this.
        min_calls: Calls the window must hold before the rates are judged.
        window_s: Length of the sliding window, in clock seconds.
        window_buckets: Buckets the window is kept in (its time resolution).
        slow_call_s: A call taking at least this long is slow; None: not tracked.
        slow_call_rate: Open when slow / calls in the window reach this.
        consecutive_failures: Open after this many failures in a row, whatever the
            window holds; None: off.
        cooldown_s: Time open before the first probe.
        cooldown_multiplier: Growth of the cool-down per failed probe.
        cooldown_max_s: Longest cool-down.
        half_open_probes: Probes let through at a time when half-open, and successes
            needed to close.
        probe_timeout_s: A probe permit not reported within this is forgotten (a worker
            that died holding it must not keep the breaker half-open for ever).
        quota_cooldown_s: Time open after `QuotaExhausted` without a ``reset_at``.
        failure_types: Errors that count as failures; others are neutral.

    Raises:
        ValueError: for an out-of-range parameter.
    """

    failure_rate: float = 0.5
    min_calls: int = 5
    window_s: float = 120.0
    window_buckets: int = 12
    slow_call_s: float | None = None
    slow_call_rate: float = 0.8
    consecutive_failures: int | None = 3
    cooldown_s: float = 30.0
    cooldown_multiplier: float = 2.0
    cooldown_max_s: float = 300.0
    half_open_probes: int = 1
    probe_timeout_s: float = 900.0
    quota_cooldown_s: float = 3600.0
    failure_types: tuple[type[BaseException], ...] = field(default=DEFAULT_FAILURE_TYPES)

    def __post_init__(self) -> None:
        for name in ("failure_rate", "slow_call_rate"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"{name} must be within (0, 1], got {value!r}")
        for name in ("min_calls", "window_buckets", "half_open_probes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.consecutive_failures is not None and self.consecutive_failures < 1:
            raise ValueError("consecutive_failures must be at least 1 (or None)")
        for name in ("window_s", "cooldown_s", "probe_timeout_s", "quota_cooldown_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.slow_call_s is not None and not self.slow_call_s > 0:
            raise ValueError(f"slow_call_s must be positive, got {self.slow_call_s!r}")
        if not self.cooldown_multiplier >= 1:
            raise ValueError(
                f"cooldown_multiplier must be at least 1, got {self.cooldown_multiplier!r}"
            )
        if not self.cooldown_max_s >= self.cooldown_s:
            raise ValueError("cooldown_max_s must be at least cooldown_s")

    def cooldown_for(self, level: int) -> float:
        """``min(cooldown_max_s, cooldown_s · cooldown_multiplier ** level)``."""
        try:
            grown = self.cooldown_s * self.cooldown_multiplier**level
        except OverflowError:
            return self.cooldown_max_s
        return min(self.cooldown_max_s, grown)

    def classify(self, error: BaseException) -> Outcome:
        """``"quota"`` for `QuotaExhausted`, ``"failure"`` for ``failure_types``, else
        ``"neutral"``."""
        if isinstance(error, QuotaExhausted):
            return "quota"
        if isinstance(error, self.failure_types):
            return "failure"
        return "neutral"


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One state change, as returned by an operation and logged.

    Attributes:
        source: The state left.
        target: The state entered.
        reason: Why (``"failure_rate"``, ``"slow_call_rate"``, ``"consecutive_failures"``,
            ``"probe_failed"``, ``"probe_slow"``, ``"quota"``, ``"cooldown_over"``,
            ``"probes_succeeded"``).
        open_for_s: The cool-down, when it opened.
    """

    source: BreakerState
    target: BreakerState
    reason: str
    open_for_s: float | None = None


@dataclass(frozen=True, slots=True)
class BreakerRecord:
    """The stored record of one breaker (times in the backend's clock seconds).

    Attributes:
        state: The stored state (``open`` reads as half-open once ``open_until`` passed).
        open_until: End of the current cool-down.
        level: Failed probes since the last close (drives the cool-down growth).
        reason: Why it last opened.
        buckets: ``(start, calls, failures, slow)`` per window bucket, oldest first.
        consecutive: Failures in a row, while closed.
        probes: Issue times of outstanding probe permits (their tokens).
        probe_successes: Probes that succeeded in this half-open spell.
        opened_total: Times it opened.
    """

    state: BreakerState = "closed"
    open_until: float = 0.0
    level: int = 0
    reason: str = ""
    buckets: tuple[tuple[float, int, int, int], ...] = ()
    consecutive: int = 0
    probes: tuple[float, ...] = ()
    probe_successes: int = 0
    opened_total: int = 0

    def at(
        self, policy: BreakerPolicy, now: float
    ) -> tuple[BreakerRecord, tuple[BreakerTransition, ...]]:
        """This record as of ``now``: cool-down over → half-open; stale probes dropped."""
        record = self
        moved: tuple[BreakerTransition, ...] = ()
        if record.state == "open" and now >= record.open_until:
            record = replace(record, state="half_open", probes=(), probe_successes=0)
            moved = (BreakerTransition("open", "half_open", "cooldown_over"),)
        if record.state == "half_open" and record.probes:
            live = tuple(t for t in record.probes if now - t < policy.probe_timeout_s)
            if live != record.probes:
                record = replace(record, probes=live)
        return record, moved

    def window(self, policy: BreakerPolicy, now: float) -> tuple[int, int, int]:
        """``(calls, failures, slow)`` in the window ending at ``now``."""
        calls = failures = slow = 0
        for start, c, f, s in self.buckets:
            if start > now - policy.window_s:
                calls, failures, slow = calls + c, failures + f, slow + s
        return calls, failures, slow


def _opened(
    record: BreakerRecord, now: float, open_for_s: float, level: int, reason: str
) -> tuple[BreakerRecord, BreakerTransition]:
    new = replace(
        record,
        state="open",
        open_until=now + open_for_s,
        level=level,
        reason=reason,
        buckets=(),
        consecutive=0,
        probes=(),
        probe_successes=0,
        opened_total=record.opened_total + 1,
    )
    return new, BreakerTransition(record.state, "open", reason, open_for_s)


@dataclass(frozen=True, slots=True)
class BreakerPermit:
    """Leave to make one call; report it with `CircuitBreaker.record_success`,
    `CircuitBreaker.record_failure` or `CircuitBreaker.release`.

    Attributes:
        probe: Whether it is a half-open probe.
        token: Its issue time (identifies a probe in the record).
    """

    probe: bool
    token: float


@dataclass(frozen=True, slots=True)
class BreakerAcquire:
    """Operation: let one call through if the state allows it.

    Result: ``(permit or None, transitions)``.

    Attributes:
        policy: The breaker's policy.
    """

    policy: BreakerPolicy

    def apply(
        self, state: BreakerRecord | None, now: float
    ) -> tuple[BreakerRecord, tuple[BreakerPermit | None, tuple[BreakerTransition, ...]]]:
        """Closed: a call permit. Half-open with a free probe slot: a probe permit."""
        record, moved = (state or BreakerRecord()).at(self.policy, now)
        if record.state == "closed":
            return record, (BreakerPermit(probe=False, token=now), moved)
        if record.state == "half_open" and (
            len(record.probes) + record.probe_successes < self.policy.half_open_probes
        ):
            record = replace(record, probes=(*record.probes, now))
            return record, (BreakerPermit(probe=True, token=now), moved)
        return record, (None, moved)


@dataclass(frozen=True, slots=True)
class BreakerReport:
    """Operation: record how a permitted call ended.

    Result: the transitions it caused.

    Attributes:
        policy: The breaker's policy.
        outcome: ``"success"``, ``"failure"``, ``"neutral"`` (frees the permit only) or
            ``"quota"`` (open for ``open_for_s``).
        duration_s: How long the call took.
        probe_token: The permit's token when it was a probe, else None.
        open_for_s: For ``"quota"``: seconds until the quota resets.
    """

    policy: BreakerPolicy
    outcome: Outcome
    duration_s: float
    probe_token: float | None = None
    open_for_s: float = 0.0

    def apply(
        self, state: BreakerRecord | None, now: float
    ) -> tuple[BreakerRecord, tuple[BreakerTransition, ...]]:
        """Apply the outcome (see the module docstring for the rules)."""
        policy = self.policy
        record, moved = (state or BreakerRecord()).at(policy, now)
        if self.outcome == "quota":
            until = max(now + self.open_for_s, record.open_until if record.state == "open" else now)
            record, opened = _opened(record, now, until - now, record.level, "quota")
            return record, (*moved, opened)
        slow = policy.slow_call_s is not None and self.duration_s >= policy.slow_call_s
        if self.probe_token is not None:
            if record.state != "half_open" or self.probe_token not in record.probes:
                return record, moved  # a probe from an earlier spell, or expired
            probes = list(record.probes)
            probes.remove(self.probe_token)
            record = replace(record, probes=tuple(probes))
            if self.outcome == "neutral":
                return record, moved
            if self.outcome == "failure" or slow:
                level = record.level + 1
                reason = "probe_failed" if self.outcome == "failure" else "probe_slow"
                record, opened = _opened(record, now, policy.cooldown_for(level), level, reason)
                return record, (*moved, opened)
            record = replace(record, probe_successes=record.probe_successes + 1)
            if record.probe_successes >= policy.half_open_probes:
                record = replace(
                    record, state="closed", level=0, probes=(), probe_successes=0, buckets=()
                )
                moved = (*moved, BreakerTransition("half_open", "closed", "probes_succeeded"))
            return record, moved
        if record.state != "closed" or self.outcome == "neutral":
            return record, moved  # a call that started before the breaker opened
        failed = self.outcome == "failure"
        record = replace(
            record,
            buckets=_add(record.buckets, policy, now, failed, slow),
            consecutive=record.consecutive + 1 if failed else 0,
        )
        trip = _trip_reason(record, policy, now)
        if trip is None:
            return record, moved
        record, opened = _opened(record, now, policy.cooldown_for(0), 0, trip)
        return record, (*moved, opened)


def _add(
    buckets: tuple[tuple[float, int, int, int], ...],
    policy: BreakerPolicy,
    now: float,
    failed: bool,
    slow: bool,
) -> tuple[tuple[float, int, int, int], ...]:
    width = policy.window_s / policy.window_buckets
    start = math.floor(now / width) * width
    kept = [b for b in buckets if b[0] > now - policy.window_s]
    if kept and kept[-1][0] == start:
        _, calls, failures, slow_calls = kept[-1]
        kept[-1] = (start, calls + 1, failures + failed, slow_calls + slow)
    else:
        kept.append((start, 1, int(failed), int(slow)))
    return tuple(kept)


def _trip_reason(record: BreakerRecord, policy: BreakerPolicy, now: float) -> str | None:
    if policy.consecutive_failures is not None and (
        record.consecutive >= policy.consecutive_failures
    ):
        return "consecutive_failures"
    calls, failures, slow = record.window(policy, now)
    if calls < policy.min_calls:
        return None
    if failures / calls >= policy.failure_rate:
        return "failure_rate"
    if policy.slow_call_s is not None and slow / calls >= policy.slow_call_rate:
        return "slow_call_rate"
    return None


@dataclass(frozen=True, slots=True)
class BreakerStatistics:
    """A snapshot of one breaker, for ``health()``.

    Attributes:
        route: The route.
        size: The size tier.
        state: Its state now.
        reason: Why it last opened ("" if never).
        calls: Calls in the window.
        failures: Failures in the window.
        slow_calls: Slow calls in the window.
        consecutive_failures: Failures in a row, while closed.
        open_for_s: Cool-down left (0 unless open).
        cooldown_level: Failed probes since it last closed.
        probes_in_flight: Outstanding probe permits.
        opened_total: Times it opened.
    """

    route: str
    size: str
    state: BreakerState
    reason: str
    calls: int
    failures: int
    slow_calls: int
    consecutive_failures: int
    open_for_s: float
    cooldown_level: int
    probes_in_flight: int
    opened_total: int

    @property
    def failure_rate(self) -> float | None:
        """failures / calls in the window, or None without calls."""
        return self.failures / self.calls if self.calls else None


class CircuitBreaker:
    """Stops sending calls to one (route, size) while it is failing.

    For each attempt: ``permit = await breaker.try_acquire()`` (None: skip this option),
    then exactly one of `record_success`, `record_failure` or `release` with that permit.

    Args:
        route: The route name.
        size: The size tier.
        policy: When to open and how to probe.
        clock: Where time comes from.
        backend: Where the record lives (default: a private `MemoryState`).
        wall_now: Returns the wall-clock time, to turn `QuotaExhausted.reset_at` into a
            cool-down (default: ``datetime.now(UTC)``).
    """

    __slots__ = ("_backend", "_clock", "_log", "_wall_now", "policy", "route", "size")

    def __init__(
        self,
        route: str,
        size: str,
        policy: BreakerPolicy | None = None,
        *,
        clock: Clock | None = None,
        backend: StateBackend | None = None,
        wall_now: WallClock | None = None,
    ) -> None:
        self.route = route
        self.size = size
        self.policy = policy or BreakerPolicy()
        self._clock: Clock = clock or LoopClock()
        self._backend: StateBackend = backend if backend is not None else MemoryState()
        self._wall_now: WallClock = wall_now or _utc_now
        self._log: Any = get_logger("imagegate.breaker")

    @property
    def _state_key(self) -> str:
        return f"breaker:{self.route}:{self.size}"

    def _current(self) -> BreakerRecord:
        record = self._backend.peek(self._state_key)
        known = record if isinstance(record, BreakerRecord) else BreakerRecord()
        return known.at(self.policy, self._clock.now())[0]

    @property
    def state(self) -> BreakerState:
        """The state now (from the last known record)."""
        return self._current().state

    def allow(self) -> bool:
        """Whether `try_acquire` would give a permit now, without taking one.

        For planning (skip options whose breaker is open); the decision is `try_acquire`.
        """
        record = self._current()
        if record.state == "closed":
            return True
        if record.state == "half_open":
            return len(record.probes) + record.probe_successes < self.policy.half_open_probes
        return False

    async def try_acquire(self) -> BreakerPermit | None:
        """A permit for one call, or None while open (or all probe slots are taken)."""
        result = await self._backend.apply(
            self._state_key, BreakerAcquire(self.policy), now=self._clock.now()
        )
        return self._acquired(result)

    def acquire_step(self) -> Step[BreakerPermit | None]:
        """`try_acquire` as a `Step`, to apply with others (`imagegate.state.apply_steps`)."""
        return Step(self._backend, self._state_key, BreakerAcquire(self.policy), self._acquired)

    def _acquired(
        self, result: tuple[BreakerPermit | None, tuple[BreakerTransition, ...]]
    ) -> BreakerPermit | None:
        permit, moved = result
        self._log_transitions(moved)
        return permit

    async def record_success(self, permit: BreakerPermit, *, duration_s: float) -> None:
        """The call returned an image after ``duration_s`` (slow ones count as slow)."""
        await self._report(permit, "success", duration_s)

    async def record_failure(
        self, permit: BreakerPermit, error: BaseException, *, duration_s: float
    ) -> None:
        """The call failed with ``error``; `BreakerPolicy.classify` decides what it means.

        A `QuotaExhausted` opens the breaker until its ``reset_at`` (or for
        ``quota_cooldown_s`` when the reset time is unknown).
        """
        outcome = self.policy.classify(error)
        open_for_s = 0.0
        if outcome == "quota":
            assert isinstance(error, QuotaExhausted)
            open_for_s = self._quota_open_s(error.reset_at)
        await self._report(permit, outcome, duration_s, open_for_s)

    async def open_for_quota(self, error: QuotaExhausted) -> None:
        """Open until ``error``'s quota resets, without a call of this breaker's own: a
        per-day or credit quota used up at one size is used up at every size of the
        route (the router reports it to the route's other breakers)."""
        await self._apply(
            BreakerReport(self.policy, "quota", 0.0, None, self._quota_open_s(error.reset_at))
        )

    async def release(self, permit: BreakerPermit) -> None:
        """The call ended without evidence (cancelled, or never sent): free the permit."""
        await self._report(permit, "neutral", 0.0)

    def release_step(self, permit: BreakerPermit) -> Step[None]:
        """`release` as a `Step`, to apply with others."""
        return Step(
            self._backend,
            self._state_key,
            self._report_op(permit, "neutral", 0.0),
            self._log_transitions,
        )

    def _quota_open_s(self, reset_at: datetime | None) -> float:
        if reset_at is None:
            return self.policy.quota_cooldown_s
        wall = self._wall_now()
        if reset_at.tzinfo is None:
            reset_at = reset_at.replace(tzinfo=UTC)
        if wall.tzinfo is None:
            wall = wall.replace(tzinfo=UTC)
        ahead = (reset_at - wall).total_seconds()
        return ahead if ahead > 0 else self.policy.cooldown_s

    async def _report(
        self, permit: BreakerPermit, outcome: Outcome, duration_s: float, open_for_s: float = 0.0
    ) -> None:
        await self._apply(self._report_op(permit, outcome, duration_s, open_for_s))

    async def _apply(self, op: BreakerReport) -> None:
        moved = await self._backend.apply(self._state_key, op, now=self._clock.now())
        self._log_transitions(moved)

    def _report_op(
        self, permit: BreakerPermit, outcome: Outcome, duration_s: float, open_for_s: float = 0.0
    ) -> BreakerReport:
        token = permit.token if permit.probe else None
        return BreakerReport(self.policy, outcome, duration_s, token, open_for_s)

    def _log_transitions(self, moved: tuple[BreakerTransition, ...]) -> None:
        for change in moved:
            if change.target == "open":
                self._log.warning(
                    "breaker.opened",
                    route=self.route,
                    size=self.size,
                    source=change.source,
                    reason=change.reason,
                    open_for_s=change.open_for_s,
                )
            elif change.target == "half_open":
                self._log.info("breaker.half_open", route=self.route, size=self.size)
            else:
                self._log.info(
                    "breaker.closed", route=self.route, size=self.size, reason=change.reason
                )

    def statistics(self) -> BreakerStatistics:
        """State, window counts and cool-down now (from the last known record)."""
        now = self._clock.now()
        record = self._current()
        calls, failures, slow = record.window(self.policy, now)
        return BreakerStatistics(
            route=self.route,
            size=self.size,
            state=record.state,
            reason=record.reason,
            calls=calls,
            failures=failures,
            slow_calls=slow,
            consecutive_failures=record.consecutive,
            open_for_s=max(0.0, record.open_until - now) if record.state == "open" else 0.0,
            cooldown_level=record.level,
            probes_in_flight=len(record.probes),
            opened_total=record.opened_total,
        )

    def __repr__(self) -> str:
        stats = self.statistics()
        return (
            f"CircuitBreaker({self.route!r}, {self.size!r}, state={stats.state}, "
            f"calls={stats.calls}, failures={stats.failures}, open_for_s={stats.open_for_s:g})"
        )


@dataclass(frozen=True, slots=True)
class BreakerRegistryStatistics:
    """Every breaker's statistics, sorted by (route, size).

    Attributes:
        breakers: One entry per breaker created so far.
    """

    breakers: tuple[BreakerStatistics, ...]


class BreakerRegistry:
    """One `CircuitBreaker` per (route, size), created on first use.

    Args:
        policy: The policy of every breaker without a more specific one.
        by_size: Policies per size tier (e.g. a longer ``slow_call_s`` for 4K).
        clock: Where time comes from.
        backend: Where the records live, shared by every breaker (default: a private
            `MemoryState`).
        wall_now: Returns the wall-clock time (see `CircuitBreaker`).
    """

    __slots__ = ("_backend", "_breakers", "_by_size", "_clock", "_wall_now", "policy")

    def __init__(
        self,
        policy: BreakerPolicy | None = None,
        *,
        by_size: Mapping[str, BreakerPolicy] | None = None,
        clock: Clock | None = None,
        backend: StateBackend | None = None,
        wall_now: WallClock | None = None,
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._by_size = dict(by_size or {})
        self._clock: Clock = clock or LoopClock()
        self._backend: StateBackend = backend if backend is not None else MemoryState()
        self._wall_now = wall_now
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}

    def get(self, route: str, size: str) -> CircuitBreaker:
        """The breaker of (``route``, ``size``), created on first use."""
        key = (route, size)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = CircuitBreaker(
                route,
                size,
                self._by_size.get(size, self.policy),
                clock=self._clock,
                backend=self._backend,
                wall_now=self._wall_now,
            )
            self._breakers[key] = breaker
        return breaker

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

    def __len__(self) -> int:
        return len(self._breakers)

    def statistics(self) -> BreakerRegistryStatistics:
        """Every breaker's statistics, sorted by (route, size)."""
        keys = sorted(self._breakers)
        return BreakerRegistryStatistics(tuple(self._breakers[k].statistics() for k in keys))

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for breaker in self._breakers.values():
            state = breaker.state
            counts[state] = counts.get(state, 0) + 1
        summary = ", ".join(f"{state}={n}" for state, n in sorted(counts.items()))
        return f"BreakerRegistry({len(self._breakers)} breakers{', ' if summary else ''}{summary})"

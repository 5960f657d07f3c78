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

from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from imagegate._logging import get_logger
from imagegate.errors import QuotaExhausted
from imagegate.resilience._breaker_codec import BreakerCodec
from imagegate.resilience._breaker_ops import (
    BreakerAcquire,
    BreakerPermit,
    BreakerRecord,
    BreakerReport,
    BreakerTransition,
)
from imagegate.resilience._breaker_policy import (
    DEFAULT_FAILURE_TYPES,
    BreakerPolicy,
    BreakerState,
    Outcome,
)
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.state import MemoryState, StateBackend, Step
from imagegate.state.codec import register_codec

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

WallClock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


# A shared backend (RedisState) runs the operations through the codec beside them.
register_codec(BreakerCodec())


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

    __slots__ = (
        "_acquire",
        "_backend",
        "_clock",
        "_key",
        "_log",
        "_wall_now",
        "policy",
        "route",
        "size",
    )

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
        self._key = f"breaker:{route}:{size}"
        # Every attempt takes a permit: the step is the same each time, so built once
        # (for the policy it was built with).
        self._acquire: tuple[BreakerPolicy, Step[BreakerPermit | None]] = (
            self.policy,
            Step(self._backend, self._key, BreakerAcquire(self.policy), self._acquired),
        )

    @property
    def _state_key(self) -> str:
        return self._key

    def _current(self) -> BreakerRecord:
        record = self._backend.peek(self._key)
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
        policy, step = self._acquire
        if policy is not self.policy:  # the policy was replaced
            step = Step(self._backend, self._key, BreakerAcquire(self.policy), self._acquired)
            self._acquire = (self.policy, step)
        return step

    def _acquired(
        self, result: tuple[BreakerPermit | None, tuple[BreakerTransition, ...]]
    ) -> BreakerPermit | None:
        permit, moved = result
        if moved:
            self._log_transitions(moved)
        return permit

    async def record_success(self, permit: BreakerPermit, *, duration_s: float) -> None:
        """The call returned an image after ``duration_s`` (slow ones count as slow)."""
        pending = self.record(permit, None, duration_s=duration_s)
        if pending is not None:
            await pending

    async def record_failure(
        self, permit: BreakerPermit, error: BaseException, *, duration_s: float
    ) -> None:
        """The call failed with ``error``; `BreakerPolicy.classify` decides what it means.

        A `QuotaExhausted` opens the breaker until its ``reset_at`` (or for
        ``quota_cooldown_s`` when the reset time is unknown).
        """
        pending = self.record(permit, error, duration_s=duration_s)
        if pending is not None:
            await pending

    def record(
        self, permit: BreakerPermit, error: BaseException | None, *, duration_s: float
    ) -> Awaitable[None] | None:
        """`record_success` (``error`` None) or `record_failure`, applied at once on a
        `MemoryState` (None is returned); on a shared backend, the round trip to await.

        For a caller that settles many things per call and would otherwise pay for a
        coroutine each time nothing waits.
        """
        outcome: Outcome = "success"
        open_for_s = 0.0
        if error is not None:
            outcome = self.policy.classify(error)
            if outcome == "quota":
                assert isinstance(error, QuotaExhausted)
                open_for_s = self._quota_open_s(error.reset_at)
        return self._apply_now(self._report_op(permit, outcome, duration_s, open_for_s))

    async def open_for_quota(self, error: QuotaExhausted) -> None:
        """Open until ``error``'s quota resets, without a call of this breaker's own: a
        per-day or credit quota used up at one size is used up at every size of the
        route (the router reports it to the route's other breakers)."""
        await self._apply(
            BreakerReport(self.policy, "quota", 0.0, None, self._quota_open_s(error.reset_at))
        )

    async def release(self, permit: BreakerPermit) -> None:
        """The call ended without evidence (cancelled, or never sent): free the permit."""
        await self._apply(self._report_op(permit, "neutral", 0.0))

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

    async def _apply(self, op: BreakerReport) -> None:
        pending = self._apply_now(op)
        if pending is not None:
            await pending

    def _apply_now(self, op: BreakerReport) -> Awaitable[None] | None:
        """``op`` applied at once on a `MemoryState` (None), else the round trip to await."""
        backend = self._backend
        if type(backend) is not MemoryState:
            return self._apply_remote(op)
        moved = backend.apply_one(self._key, op, now=self._clock.now())
        if moved:
            self._log_transitions(moved)
        return None

    async def _apply_remote(self, op: BreakerReport) -> None:
        moved = await self._backend.apply(self._key, op, now=self._clock.now())
        if moved:
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

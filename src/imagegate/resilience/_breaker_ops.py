"""The breaker's decisions: the `BreakerRecord` and the pure operations `BreakerAcquire`
and `BreakerReport` that change it.

`imagegate.resilience.breaker` explains the states and transitions and holds the
`CircuitBreaker` that hands these operations to a backend; the names are importable from
there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from imagegate._frozen import slot_init
from imagegate.resilience._breaker_policy import BreakerPolicy, BreakerState, Outcome

__all__ = [
    "BreakerAcquire",
    "BreakerPermit",
    "BreakerRecord",
    "BreakerReport",
    "BreakerTransition",
]


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


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
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


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
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
            return record, (BreakerPermit(False, now), moved)  # (probe, token): every call
        if record.state == "half_open" and (
            len(record.probes) + record.probe_successes < self.policy.half_open_probes
        ):
            record = replace(record, probes=(*record.probes, now))
            return record, (BreakerPermit(probe=True, token=now), moved)
        return record, (None, moved)


# Built for every call that ends: not frozen, since a frozen dataclass's __init__ costs
# several times a plain one's. Never changed once built.
@dataclass(slots=True)
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
        """Apply the outcome (see the module docstring of `imagegate.resilience.breaker`
        for the rules)."""
        policy = self.policy
        record, moved = (state or BreakerRecord()).at(policy, now)
        if self.outcome == "quota":
            until = max(now + self.open_for_s, record.open_until if record.state == "open" else now)
            record, opened = _opened(record, now, until - now, record.level, "quota")
            return record, (*moved, opened)
        slow = policy.slow_call_s is not None and self.duration_s >= policy.slow_call_s
        if self.probe_token is not None:
            return self._probe_ended(record, moved, now, slow)
        return self._call_ended(record, moved, now, slow)

    def _probe_ended(
        self, record: BreakerRecord, moved: tuple[BreakerTransition, ...], now: float, slow: bool
    ) -> tuple[BreakerRecord, tuple[BreakerTransition, ...]]:
        """A half-open probe ended: it frees its slot, and closes or reopens the breaker."""
        policy = self.policy
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

    def _call_ended(
        self, record: BreakerRecord, moved: tuple[BreakerTransition, ...], now: float, slow: bool
    ) -> tuple[BreakerRecord, tuple[BreakerTransition, ...]]:
        """A call made while closed ended: its outcome goes into the window, which may
        open the breaker."""
        policy = self.policy
        if record.state != "closed" or self.outcome == "neutral":
            return record, moved  # a call that started before the breaker opened
        failed = self.outcome == "failure"
        buckets, window = _add(record.buckets, policy, now, failed, slow)
        # Built field by field, not with `replace`: every call that ends goes through
        # here, and `replace` costs several times a plain construction.
        record = BreakerRecord(
            record.state,
            record.open_until,
            record.level,
            record.reason,
            buckets,
            record.consecutive + 1 if failed else 0,
            record.probes,
            record.probe_successes,
            record.opened_total,
        )
        trip = _trip_reason(record, policy, window)
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
) -> tuple[tuple[tuple[float, int, int, int], ...], tuple[int, int, int]]:
    """The buckets with one more call (those older than the window dropped), and the
    window's ``(calls, failures, slow)`` with it: `BreakerRecord.window` at ``now``,
    counted in the same pass."""
    width = policy.window_s / policy.window_buckets
    start = math.floor(now / width) * width
    horizon = now - policy.window_s
    kept = []
    calls, failures, slow_calls = 1, int(failed), int(slow)
    for bucket in buckets:
        if bucket[0] > horizon:
            kept.append(bucket)
            calls, failures, slow_calls = (
                calls + bucket[1],
                failures + bucket[2],
                slow_calls + bucket[3],
            )
    if kept and kept[-1][0] == start:
        _, c, f, s = kept[-1]
        kept[-1] = (start, c + 1, f + failed, s + slow)
    else:
        kept.append((start, 1, int(failed), int(slow)))
    return tuple(kept), (calls, failures, slow_calls)


def _trip_reason(
    record: BreakerRecord, policy: BreakerPolicy, window: tuple[int, int, int]
) -> str | None:
    """Why a closed breaker opens, given its ``window`` (calls, failures, slow), or None."""
    if policy.consecutive_failures is not None and (
        record.consecutive >= policy.consecutive_failures
    ):
        return "consecutive_failures"
    calls, failures, slow = window
    if calls < policy.min_calls:
        return None
    if failures / calls >= policy.failure_rate:
        return "failure_rate"
    if policy.slow_call_s is not None and slow / calls >= policy.slow_call_rate:
        return "slow_call_rate"
    return None

"""How a breaker's record and operations are kept in Redis (`imagegate.state.codec`).

The record is one hash (``_lua/breaker.lua``): ``s`` state, ``ou`` open_until, ``lv``
level, ``rs`` reason, ``bk`` buckets (``start,calls,failures,slow;...``), ``cs``
consecutive, ``pr`` probe tokens (``t;t``), ``ps`` probe_successes, ``ot``
opened_total. The policy travels with each operation, never in the record.

Keys are ``breaker:{route}:{size}``, hash-tagged on the route, so a route's breakers
share one Redis Cluster slot. Probe tokens are issue times on the server's clock; the
local copy kept while Redis cannot be reached holds them moved into the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, cast

from imagegate.resilience._breaker_ops import (
    BreakerAcquire,
    BreakerPermit,
    BreakerRecord,
    BreakerReport,
    BreakerTransition,
)
from imagegate.resilience._breaker_policy import BreakerPolicy
from imagegate.state.codec import Codec, Encoder, RemoteCall, Script, float_arg, optional_arg

__all__ = ["BreakerCodec"]

_PACKAGE = "imagegate.resilience"
_ACQUIRE = Script("breaker_acquire", "breaker", "breaker_acquire", package=_PACKAGE)
_REPORT = Script("breaker_report", "breaker", "breaker_report", package=_PACKAGE)


@lru_cache(maxsize=256)
def _policy_args(policy: BreakerPolicy) -> tuple[str, ...]:
    return (
        float_arg(policy.failure_rate),
        str(policy.min_calls),
        float_arg(policy.window_s),
        str(policy.window_buckets),
        optional_arg(policy.slow_call_s),
        float_arg(policy.slow_call_rate),
        optional_arg(policy.consecutive_failures),
        float_arg(policy.cooldown_s),
        float_arg(policy.cooldown_multiplier),
        float_arg(policy.cooldown_max_s),
        str(policy.half_open_probes),
        float_arg(policy.probe_timeout_s),
    )


def _transitions(items: Sequence[str]) -> tuple[BreakerTransition, ...]:
    return tuple(
        BreakerTransition(
            cast("Any", items[k]),
            cast("Any", items[k + 1]),
            items[k + 2],
            None if items[k + 3] == "" else float(items[k + 3]),
        )
        for k in range(0, len(items), 4)
    )


def _acquire(op: BreakerAcquire, ttl_s: float) -> RemoteCall:
    return RemoteCall(_ACQUIRE, _policy_args(op.policy), _acquired)


def _acquired(
    items: Sequence[str],
) -> tuple[BreakerPermit | None, tuple[BreakerTransition, ...]]:
    permit = None if items[0] == "" else BreakerPermit(probe=items[0] == "1", token=float(items[1]))
    return permit, _transitions(items[2:])


def _report(op: BreakerReport, ttl_s: float) -> RemoteCall:
    args = (
        *_policy_args(op.policy),
        op.outcome,
        float_arg(op.duration_s),
        optional_arg(op.probe_token),
        float_arg(op.open_for_s),
    )
    return RemoteCall(_REPORT, args, _transitions)


class BreakerCodec(Codec):
    """`BreakerRecord` under ``breaker:{route}:{size}`` keys, hash-tagged ``{route}``."""

    kind = "breaker"
    scripts = (_ACQUIRE, _REPORT)
    operations: Mapping[type[Any], Encoder] = MappingProxyType(
        {BreakerAcquire: _acquire, BreakerReport: _report}
    )

    def record(self, fields: Mapping[str, str]) -> BreakerRecord | None:
        """The `BreakerRecord` the fields hold."""
        if not fields:
            return None
        buckets = tuple(
            (float(s), int(c), int(f), int(w))
            for s, c, f, w in (b.split(",") for b in fields["bk"].split(";") if b)
        )
        return BreakerRecord(
            state=cast("Any", fields["s"]),
            open_until=float(fields["ou"]),
            level=int(fields["lv"]),
            reason=fields["rs"],
            buckets=buckets,
            consecutive=int(fields["cs"]),
            probes=tuple(float(t) for t in fields["pr"].split(";") if t),
            probe_successes=int(fields["ps"]),
            opened_total=int(fields["ot"]),
        )

    def shifted(self, record: object, offset_s: float) -> object:
        """The cool-down's end, the buckets' starts and the probe tokens moved by
        ``offset_s``."""
        if not isinstance(record, BreakerRecord):
            return record
        return replace(
            record,
            open_until=record.open_until + offset_s,
            buckets=tuple((s + offset_s, c, f, w) for s, c, f, w in record.buckets),
            probes=tuple(t + offset_s for t in record.probes),
        )

    def hash_tag(self, rest: str) -> str:
        """``{route}:{size}`` for ``route:size`` (a route's sizes share one slot)."""
        if ":" not in rest:
            return f"{{{rest}}}"
        route, _, size = rest.rpartition(":")
        return f"{{{route}}}:{size}"

    def aged(self, record: object) -> object:
        """Without probe permits: other workers' probes may have ended since."""
        if isinstance(record, BreakerRecord) and record.probes:
            return replace(record, probes=())
        return record

    def localized(self, op: Any, local: object | None, offset_s: float) -> Any:
        """A report of a probe whose permit Redis issued carries a server-clock token;
        the local copy holds it moved by ``offset_s``, so the report does too."""
        if not isinstance(op, BreakerReport) or op.probe_token is None:
            return op
        if not isinstance(local, BreakerRecord) or op.probe_token in local.probes:
            return op
        shifted = op.probe_token + offset_s
        return replace(op, probe_token=shifted) if shifted in local.probes else op

    def __repr__(self) -> str:
        return "BreakerCodec()"

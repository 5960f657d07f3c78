"""How a rate limit's record and operations are kept in Redis (`imagegate.state.codec`).

The record is one hash (``_lua/rate.lua``): ``rt`` request_tat, ``it`` image_tat, ``st``
spacing_tat, ``d`` day, ``ut`` used_today, ``un`` used_next_day, ``bu`` blocked_until,
``lb`` booking and ``ld`` booking_day (records written before the last two existed read
as "" and 0). The limits travel with each operation, never in the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from imagegate.resilience._ratelimit_ops import (
    RateExhaust,
    RateLimit,
    RateLimitState,
    RateReserve,
    RateUnreserve,
)
from imagegate.state.codec import (
    Codec,
    Encoder,
    RemoteCall,
    Script,
    float_arg,
    no_result,
    optional_arg,
)

__all__ = ["RateLimitCodec"]

_PACKAGE = "imagegate.resilience"
_RESERVE = Script("rate_reserve", "rate", "rate_reserve", package=_PACKAGE)
_UNRESERVE = Script("rate_unreserve", "rate", "rate_unreserve", package=_PACKAGE)
_EXHAUST = Script("rate_exhaust", "rate", "rate_exhaust", package=_PACKAGE)


@lru_cache(maxsize=256)
def _limit_args(limit: RateLimit) -> tuple[str, ...]:
    return (
        optional_arg(limit.rpm),
        optional_arg(limit.ipm),
        optional_arg(limit.rpd),
        optional_arg(limit.min_interval_s),
        str(limit.burst),
        float_arg(limit.margin_s),
    )


def _reserve(op: RateReserve, ttl_s: float) -> RemoteCall:
    args = (
        str(op.n),
        *_limit_args(op.limit),
        str(op.day),
        float_arg(op.reset_in_s),
        optional_arg(op.max_wait_s),
        op.booking,
    )
    return RemoteCall(_RESERVE, args, _wait)


def _wait(items: Sequence[str]) -> float | None:
    return None if items[0] == "" else float(items[0])


def _unreserve(op: RateUnreserve, ttl_s: float) -> RemoteCall:
    args = (op.booking, str(op.n), *_limit_args(op.limit), str(op.day))
    return RemoteCall(_UNRESERVE, args, _undone)


def _undone(items: Sequence[str]) -> bool:
    return items[0] == "1"


def _exhaust(op: RateExhaust, ttl_s: float) -> RemoteCall:
    return RemoteCall(_EXHAUST, (str(op.day), float_arg(op.block_for_s)), no_result)


class RateLimitCodec(Codec):
    """`RateLimitState` under ``ratelimit:{quota}`` keys, hash-tagged ``{quota}``."""

    kind = "ratelimit"
    scripts = (_RESERVE, _UNRESERVE, _EXHAUST)
    operations: Mapping[type[Any], Encoder] = MappingProxyType(
        {RateReserve: _reserve, RateUnreserve: _unreserve, RateExhaust: _exhaust}
    )

    def record(self, fields: Mapping[str, str]) -> RateLimitState | None:
        """The `RateLimitState` the fields hold."""
        if not fields:
            return None
        return RateLimitState(
            request_tat=float(fields["rt"]),
            image_tat=float(fields["it"]),
            spacing_tat=float(fields["st"]),
            day=int(fields["d"]),
            used_today=int(fields["ut"]),
            used_next_day=int(fields["un"]),
            blocked_until=float(fields["bu"]),
            booking=fields.get("lb", ""),
            booking_day=int(fields.get("ld", "0")),
        )

    def shifted(self, record: object, offset_s: float) -> object:
        """The GCRA times and the block moved by ``offset_s``."""
        if not isinstance(record, RateLimitState):
            return record
        return replace(
            record,
            request_tat=record.request_tat + offset_s,
            image_tat=record.image_tat + offset_s,
            spacing_tat=record.spacing_tat + offset_s,
            blocked_until=record.blocked_until + offset_s,
        )

    def __repr__(self) -> str:
        return "RateLimitCodec()"

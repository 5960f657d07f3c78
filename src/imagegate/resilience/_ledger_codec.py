"""How the budget ledger's record and operations are kept in Redis
(`imagegate.state.codec`).

The record is one hash (``_lua/ledger.lua``): ``b`` billed_usd, ``p``
possibly_billed_usd, ``r`` reserved_usd, ``o`` open_reservations, ``n`` routes seen, and
per route ``R:<route>`` = ``index;billed_usd;possibly_billed_usd;attempts`` (the index
keeps the order routes first settled). It lives ``ttl_s`` real seconds after its last
change.

The ledger is additive: what a process booked and settled on its local copy while Redis
could not be reached is added to the shared record when Redis answers again
(``ledger_merge``), so no spend is lost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from imagegate.resilience._ledger_ops import (
    LedgerReserve,
    LedgerSettle,
    LedgerState,
    LedgerUnreserve,
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

__all__ = ["LedgerCodec"]

_PACKAGE = "imagegate.resilience"
_RESERVE = Script("ledger_reserve", "ledger", "ledger_reserve", package=_PACKAGE)
_SETTLE = Script("ledger_settle", "ledger", "ledger_settle", package=_PACKAGE)
_UNRESERVE = Script("ledger_unreserve", "ledger", "ledger_unreserve", package=_PACKAGE)
_MERGE = Script("ledger_merge", "ledger", "ledger_merge", package=_PACKAGE)


def _reserve(op: LedgerReserve, ttl_s: float) -> RemoteCall:
    args = (float_arg(ttl_s), float_arg(op.estimate_usd), optional_arg(op.limit_usd))
    return RemoteCall(_RESERVE, args, _booked)


def _booked(items: Sequence[str]) -> tuple[bool, float]:
    return items[0] == "1", float(items[1])


def _settle(op: LedgerSettle, ttl_s: float) -> RemoteCall:
    args = (
        float_arg(ttl_s),
        float_arg(op.estimate_usd),
        float_arg(op.actual_usd),
        op.billing,
        op.route,
    )
    return RemoteCall(_SETTLE, args, no_result)


def _unreserve(op: LedgerUnreserve, ttl_s: float) -> RemoteCall:
    return RemoteCall(_UNRESERVE, (float_arg(ttl_s), float_arg(op.estimate_usd)), no_result)


def _delta_args(base: LedgerState, local: LedgerState) -> tuple[str, ...]:
    """The ``ledger_merge`` arguments that add what ``local`` booked since ``base``."""
    before = {route: (b, p, a) for route, b, p, a in base.by_route}
    routes: list[str] = []
    for route, billed, possibly, attempts in local.by_route:
        b0, p0, a0 = before.get(route, (0.0, 0.0, 0))
        if (billed, possibly, attempts) != (b0, p0, a0):
            routes += [route, float_arg(billed - b0), float_arg(possibly - p0), str(attempts - a0)]
    return (
        float_arg(local.billed_usd - base.billed_usd),
        float_arg(local.possibly_billed_usd - base.possibly_billed_usd),
        float_arg(local.reserved_usd - base.reserved_usd),
        str(local.open_reservations - base.open_reservations),
        *routes,
    )


class LedgerCodec(Codec):
    """`LedgerState` under ``ledger:{key}`` keys, hash-tagged ``{key}``; merged back
    after local spells."""

    kind = "ledger"
    scripts = (_RESERVE, _SETTLE, _UNRESERVE, _MERGE)
    operations: Mapping[type[Any], Encoder] = MappingProxyType(
        {LedgerReserve: _reserve, LedgerSettle: _settle, LedgerUnreserve: _unreserve}
    )

    def record(self, fields: Mapping[str, str]) -> LedgerState | None:
        """The `LedgerState` the fields hold, routes in the order they first settled."""
        if not fields:
            return None
        rows = []
        for field, value in fields.items():
            if field.startswith("R:"):
                index, billed, possibly, attempts = value.split(";")
                rows.append((int(index), field[2:], float(billed), float(possibly), int(attempts)))
        rows.sort()
        return LedgerState(
            billed_usd=float(fields["b"]),
            possibly_billed_usd=float(fields["p"]),
            reserved_usd=float(fields["r"]),
            open_reservations=int(fields["o"]),
            by_route=tuple((route, b, p, a) for _, route, b, p, a in rows),
        )

    def merge_base(self, seed: object | None) -> LedgerState:
        """The last shared copy, or an empty ledger: local changes count from there."""
        return seed if isinstance(seed, LedgerState) else LedgerState()

    def merge(self, base: object, local: object | None, ttl_s: float) -> RemoteCall | None:
        """``ledger_merge`` with the differences of ``local`` from ``base``."""
        if not isinstance(base, LedgerState) or not isinstance(local, LedgerState):
            return None
        if local == base:
            return None
        return RemoteCall(_MERGE, (float_arg(ttl_s), *_delta_args(base, local)), no_result)

    def __repr__(self) -> str:
        return "LedgerCodec()"

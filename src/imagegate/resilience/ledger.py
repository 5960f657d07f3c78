"""`CostLedger`: what every attempt cost, and an optional cap that is never crossed.

Each attempt first *reserves* its estimated cost, then *settles* with what it really
cost and its billing status::

    committed = billed + possibly_billed + reserved       (reserved: not yet settled)
    reserve(e):  allowed iff committed + e <= limit_usd, then reserved += e
    settle(r, actual, billing):  reserved -= r.estimate;  billed or possibly_billed += actual
    unreserve(r):                reserved -= r.estimate   (the attempt was never made)

Every amount must be a finite, non-negative number of dollars: the operations raise
`ValueError` for anything else, so a cost that is NaN (every comparison with it is false,
which would turn the cap off), infinite or negative never reaches the record.

Possibly billed attempts (cancelled or timed out mid-work) count against the cap: the cap
is a promise, so an unknown charge is assumed to be a charge. ``not_billed`` attempts
cost nothing. Because reservations are checked and booked in one atomic step, concurrent
requests can never book past the cap together; only an attempt that costs more than its
estimate can push the total over, and then every later reservation is refused.

`unreserve` takes back a reservation whose attempt never started (refused at the gate,
cancelled or out of time before its call): the ledger is left as if nothing had been
booked, and no attempt is counted for its route.

The state is one `LedgerState` record changed by the pure operations `LedgerReserve`,
`LedgerSettle` and `LedgerUnreserve`, so a shared backend keeps one cap for many processes
(docs/scaling.md).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any

from imagegate._logging import get_logger
from imagegate._numbers import usd
from imagegate.errors import Billing, BudgetExceeded
from imagegate.resilience._ledger_codec import LedgerCodec
from imagegate.resilience._ledger_ops import (
    LedgerReserve,
    LedgerSettle,
    LedgerState,
    LedgerUnreserve,
    check_amount,
)
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.state import MemoryState, StateBackend, Step
from imagegate.state.codec import register_codec

__all__ = [
    "CostLedger",
    "LedgerReserve",
    "LedgerSettle",
    "LedgerState",
    "LedgerUnreserve",
    "Reservation",
    "RouteSpend",
    "Spend",
]

# A shared backend (RedisState) runs the operations through the codec beside them.
register_codec(LedgerCodec())


@dataclass(frozen=True, slots=True)
class RouteSpend:
    """One route's share of the spend.

    Attributes:
        billed_usd: Billed cost.
        possibly_billed_usd: Cost that may have been billed.
        attempts: Settled attempts.
    """

    billed_usd: float
    possibly_billed_usd: float
    attempts: int

    @property
    def total_usd(self) -> float:
        """Billed plus possibly billed."""
        return usd(self.billed_usd + self.possibly_billed_usd)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: billed, possibly billed, total (dollars) and attempts."""
        return {
            "billed_usd": self.billed_usd,
            "possibly_billed_usd": self.possibly_billed_usd,
            "total_usd": self.total_usd,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True)
class Spend:
    """What was spent, as ``router.spend()`` reports it.

    Attributes:
        billed_usd: Billed cost.
        possibly_billed_usd: Cost that may have been billed.
        reserved_usd: Estimates of attempts still running.
        limit_usd: The cap, or None.
        by_route: Per route, in the order routes first settled.
    """

    billed_usd: float
    possibly_billed_usd: float
    reserved_usd: float
    limit_usd: float | None
    by_route: Mapping[str, RouteSpend]

    @property
    def total_usd(self) -> float:
        """Billed plus possibly billed (what `ImageResult.cost_usd` sums per request)."""
        return usd(self.billed_usd + self.possibly_billed_usd)

    @property
    def remaining_usd(self) -> float | None:
        """What may still be reserved under the cap (None without a cap)."""
        if self.limit_usd is None:
            return None
        return usd(max(0.0, self.limit_usd - self.total_usd - self.reserved_usd))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``json.dumps`` takes it as it is): every figure in dollars, rounded
        to 1/10000 of a cent, and each route's `RouteSpend.to_dict`."""
        return {
            "billed_usd": self.billed_usd,
            "possibly_billed_usd": self.possibly_billed_usd,
            "total_usd": self.total_usd,
            "reserved_usd": self.reserved_usd,
            "limit_usd": self.limit_usd,
            "remaining_usd": self.remaining_usd,
            "by_route": {route: spend.to_dict() for route, spend in self.by_route.items()},
        }


class Reservation:
    """A booked estimate; settle it exactly once with `CostLedger.settle`.

    Attributes:
        estimate_usd: What was booked.
        route: The attempt's route.
        size: The attempt's size tier, if given.
    """

    __slots__ = ("_settled", "estimate_usd", "route", "size")

    def __init__(self, estimate_usd: float, route: str, size: str | None) -> None:
        self.estimate_usd = estimate_usd
        self.route = route
        self.size = size
        self._settled = False

    @property
    def settled(self) -> bool:
        """Whether `CostLedger.settle` was called for it."""
        return self._settled

    def __repr__(self) -> str:
        state = "settled" if self._settled else "open"
        return f"Reservation({self.estimate_usd!r}, route={self.route!r}, {state})"


_MAX_STEPS = 256


class CostLedger:
    """Records every attempt's cost and enforces an optional cap.

    Args:
        limit_usd: The cap on billed plus possibly billed cost; None records only.
        key: Names the ledger in the backend (ledgers with one key and backend share
            one total and one cap).
        clock: Where time comes from (passed to the backend).
        backend: Where the record lives (default: a private `MemoryState`).

    Raises:
        ValueError: for a negative cap.
    """

    __slots__ = ("_backend", "_clock", "_key", "_log", "_steps", "key", "limit_usd")

    def __init__(
        self,
        *,
        limit_usd: float | None = None,
        key: str = "default",
        clock: Clock | None = None,
        backend: StateBackend | None = None,
    ) -> None:
        if limit_usd is not None and not limit_usd >= 0:
            raise ValueError(f"limit_usd must not be negative, got {limit_usd!r}")
        self.limit_usd = limit_usd
        self.key = key
        self._clock: Clock = clock or LoopClock()
        self._backend: StateBackend = backend if backend is not None else MemoryState()
        self._log: Any = get_logger("imagegate.ledger")
        self._key = f"ledger:{key}"
        # Reservation steps by (estimate, route, size, cap): an option books the same
        # estimate on every attempt, so its step is built once.
        self._steps: dict[tuple[float, str, str | None, float | None], Step[Any]] = {}

    @property
    def _state_key(self) -> str:
        return self._key

    async def reserve(
        self, estimate_usd: float, *, route: str, size: str | None = None
    ) -> Reservation:
        """Book an attempt's estimated cost before it starts.

        Args:
            estimate_usd: The list price of the attempt (0.0 when unknown).
            route: Where the attempt goes.
            size: Its size tier, for the log.

        Raises:
            BudgetExceeded: booking it would cross ``limit_usd``; nothing is booked.
            ValueError: for a negative or non-finite estimate.
        """
        step = self.reserve_step(estimate_usd, route=route, size=size)
        result = step.finish(await self._backend.apply(step.key, step.op, now=self._clock.now()))
        if isinstance(result, BudgetExceeded):
            raise result
        return result

    def reserve_step(
        self, estimate_usd: float, *, route: str, size: str | None = None
    ) -> Step[Reservation | BudgetExceeded]:
        """`reserve` as a `Step`, to apply with others (`imagegate.state.apply_steps`).

        Its result is the `Reservation`, or the `BudgetExceeded` that `reserve` would
        raise (nothing booked).

        Raises:
            ValueError: for a negative or non-finite estimate.
        """
        key = (estimate_usd, route, size, self.limit_usd)
        step: Step[Reservation | BudgetExceeded] | None = self._steps.get(key)
        if step is not None:
            return step
        check_amount("estimate_usd", estimate_usd)

        def finish(result: tuple[bool, float]) -> Reservation | BudgetExceeded:
            return self._booked(result, estimate_usd, route, size)

        step = Step(self._backend, self._key, LedgerReserve(estimate_usd, self.limit_usd), finish)
        if len(self._steps) >= _MAX_STEPS:  # estimates vary with input images: bounded
            self._steps.clear()
        self._steps[key] = step
        return step

    def _booked(
        self, result: tuple[bool, float], estimate_usd: float, route: str, size: str | None
    ) -> Reservation | BudgetExceeded:
        booked, committed = result
        if not booked:
            assert self.limit_usd is not None
            self._log.info(
                "budget.exceeded",
                route=route,
                size=size,
                estimate_usd=estimate_usd,
                committed_usd=committed,
                limit_usd=self.limit_usd,
            )
            return BudgetExceeded(
                f"budget cap of ${self.limit_usd:.4f} would be crossed: ${committed:.4f} spent "
                f"or reserved, next attempt on {route}@{size} estimated at ${estimate_usd:.4f}",
                spent_usd=committed,
                limit_usd=self.limit_usd,
            )
        if self._log.is_enabled_for(logging.DEBUG):  # every attempt: no fields built for nothing
            self._log.debug(
                "budget.reserved",
                route=route,
                size=size,
                estimate_usd=estimate_usd,
                committed_usd=committed + estimate_usd,
                limit_usd=self.limit_usd,
            )
        return Reservation(estimate_usd, route, size)

    async def settle(self, reservation: Reservation, actual_usd: float, billing: Billing) -> None:
        """Replace a reservation by the attempt's actual cost; a second call does nothing.

        Args:
            reservation: What `reserve` returned.
            actual_usd: What the attempt cost (the estimate when the provider did not
                say); ignored for ``not_billed``.
            billing: ``"billed"``, ``"possibly_billed"`` or ``"not_billed"``.

        Raises:
            ValueError: ``actual_usd`` is negative or not finite (the reservation stays
                open).
        """
        pending = self.settle_now(reservation, actual_usd, billing)
        if pending is not None:
            await pending

    def settle_now(
        self, reservation: Reservation, actual_usd: float, billing: Billing
    ) -> Awaitable[None] | None:
        """`settle`, applied at once on a `MemoryState` (None is returned); on a shared
        backend, the round trip to await. For a caller that settles many things per call
        and would otherwise pay for a coroutine each time nothing waits.

        Raises:
            ValueError: ``actual_usd`` is negative or not finite (the reservation stays
                open).
        """
        if reservation.settled:
            return None
        op = LedgerSettle(reservation.estimate_usd, actual_usd, billing, reservation.route)
        reservation._settled = True
        backend = self._backend
        if type(backend) is not MemoryState:
            return self._settle_remote(op, reservation)
        backend.apply_one(self._key, op, now=self._clock.now())
        self._settled(reservation, actual_usd, billing)
        return None

    async def _settle_remote(self, op: LedgerSettle, reservation: Reservation) -> None:
        await self._backend.apply(self._key, op, now=self._clock.now())
        self._settled(reservation, op.actual_usd, op.billing)

    def _settled(self, reservation: Reservation, actual_usd: float, billing: Billing) -> None:
        if self._log.is_enabled_for(logging.DEBUG):
            self._log.debug(
                "budget.settled",
                route=reservation.route,
                size=reservation.size,
                cost_usd=actual_usd,
                billing=billing,
            )

    async def unreserve(self, reservation: Reservation) -> None:
        """Take back a reservation as if it was never booked (no attempt is recorded).

        Does nothing for a reservation already settled (or taken back).
        """
        if reservation.settled:
            return
        step = self.unreserve_step(reservation)
        step.finish(await self._backend.apply(step.key, step.op, now=self._clock.now()))

    def unreserve_step(self, reservation: Reservation) -> Step[None]:
        """`unreserve` as a `Step`, to apply with others.

        Raises:
            ValueError: the reservation is already settled (taking it back again would
                free someone else's).
        """
        if reservation.settled:
            raise ValueError(f"{reservation!r} is already settled")
        reservation._settled = True

        def finish(_: None) -> None:
            self._log.debug(
                "budget.unreserved",
                route=reservation.route,
                size=reservation.size,
                estimate_usd=reservation.estimate_usd,
            )

        op = LedgerUnreserve(reservation.estimate_usd)
        return Step(self._backend, self._state_key, op, finish)

    def spend(self) -> Spend:
        """Totals by billing status and by route (from the last known record)."""
        record = self._backend.peek(self._state_key)
        state = record if isinstance(record, LedgerState) else LedgerState()
        by_route = {
            route: RouteSpend(usd(billed), usd(possibly), attempts)
            for route, billed, possibly, attempts in state.by_route
        }
        return Spend(
            billed_usd=usd(state.billed_usd),
            possibly_billed_usd=usd(state.possibly_billed_usd),
            reserved_usd=usd(state.reserved_usd),
            limit_usd=self.limit_usd,
            by_route=by_route,  # a plain dict: `dataclasses.asdict` copies it, a proxy it cannot
        )

    def __repr__(self) -> str:
        spend = self.spend()
        limit = "none" if self.limit_usd is None else f"{self.limit_usd:.4f}"
        return (
            f"CostLedger(billed_usd={spend.billed_usd:.4f}, "
            f"possibly_billed_usd={spend.possibly_billed_usd:.4f}, "
            f"reserved_usd={spend.reserved_usd:.4f}, limit_usd={limit})"
        )

"""The ledger's decisions: the `LedgerState` record and the pure operations
`LedgerReserve`, `LedgerSettle` and `LedgerUnreserve` that change it.

`imagegate.resilience.ledger` explains the rules (reserve, settle, unreserve, the cap)
and holds the `CostLedger` that hands these operations to a backend; the names are
importable from there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from imagegate._frozen import slot_init
from imagegate.errors import Billing

__all__ = [
    "LedgerReserve",
    "LedgerSettle",
    "LedgerState",
    "LedgerUnreserve",
    "check_amount",
]

# Float sums drift: 0.1 + 0.2 > 0.3. Reaching the cap exactly must be allowed.
_EPSILON_USD = 1e-9


def check_amount(name: str, value: float) -> None:
    """Refuse what would corrupt the record: NaN, infinities and negative amounts."""
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must not be negative, NaN or infinite, got {value!r}")


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
@dataclass(frozen=True, slots=True)
class LedgerState:
    """The stored ledger record.

    Attributes:
        billed_usd: Settled cost of billed attempts.
        possibly_billed_usd: Settled cost of attempts that may have been billed.
        reserved_usd: Estimates of reservations not yet settled.
        open_reservations: How many reservations are not yet settled.
        by_route: ``(route, billed_usd, possibly_billed_usd, attempts)`` per route.
    """

    billed_usd: float = 0.0
    possibly_billed_usd: float = 0.0
    reserved_usd: float = 0.0
    open_reservations: int = 0
    by_route: tuple[tuple[str, float, float, int], ...] = ()

    @property
    def committed_usd(self) -> float:
        """Settled cost plus open reservations: what the cap is checked against."""
        return self.billed_usd + self.possibly_billed_usd + self.reserved_usd


@dataclass(frozen=True, slots=True)
class LedgerReserve:
    """Operation: book ``estimate_usd`` unless it would cross ``limit_usd``.

    Result: ``(booked, committed_usd before the booking)``.

    Attributes:
        estimate_usd: The attempt's estimated cost.
        limit_usd: The cap, or None.
    """

    estimate_usd: float
    limit_usd: float | None

    def __post_init__(self) -> None:
        check_amount("estimate_usd", self.estimate_usd)
        if self.limit_usd is not None and math.isnan(self.limit_usd):
            raise ValueError("limit_usd must not be NaN")

    def apply(
        self, state: LedgerState | None, now: float
    ) -> tuple[LedgerState, tuple[bool, float]]:
        """Book the estimate when it fits under the cap."""
        current = state or LedgerState()
        committed = current.committed_usd
        if self.limit_usd is not None and (
            committed + self.estimate_usd > self.limit_usd + _EPSILON_USD
        ):
            return current, (False, committed)
        # Built field by field, not with `replace`: every attempt books here, and
        # `replace` costs several times a plain construction.
        new = LedgerState(
            current.billed_usd,
            current.possibly_billed_usd,
            current.reserved_usd + self.estimate_usd,
            current.open_reservations + 1,
            current.by_route,
        )
        return new, (True, committed)


# Built for every attempt that ends: not frozen, since a frozen dataclass's __init__ costs
# several times a plain one's. Never changed once built.
@dataclass(slots=True)
class LedgerSettle:
    """Operation: replace a reservation by the attempt's actual cost.

    Attributes:
        estimate_usd: What the reservation booked.
        actual_usd: What the attempt cost (ignored when ``not_billed``).
        billing: The attempt's billing status.
        route: Where the attempt went.
    """

    estimate_usd: float
    actual_usd: float
    billing: Billing
    route: str

    def __post_init__(self) -> None:
        check_amount("estimate_usd", self.estimate_usd)
        check_amount("actual_usd", self.actual_usd)

    def apply(self, state: LedgerState | None, now: float) -> tuple[LedgerState, None]:
        """Release the reservation and add the cost to its billing bucket and route."""
        current = state or LedgerState()
        cost = 0.0 if self.billing == "not_billed" else self.actual_usd
        billed = cost if self.billing == "billed" else 0.0
        possibly = cost if self.billing == "possibly_billed" else 0.0
        rows = list(current.by_route)
        for i, (route, route_billed, route_possibly, attempts) in enumerate(rows):
            if route == self.route:
                rows[i] = (route, route_billed + billed, route_possibly + possibly, attempts + 1)
                break
        else:
            rows.append((self.route, billed, possibly, 1))
        # In field order, not by keyword: every attempt settles here (see `LedgerReserve`).
        new = LedgerState(
            current.billed_usd + billed,
            current.possibly_billed_usd + possibly,
            # max(): float drift must not leave a tiny negative reservation behind.
            max(0.0, current.reserved_usd - self.estimate_usd),
            max(0, current.open_reservations - 1),
            tuple(rows),
        )
        return new, None


@dataclass(frozen=True, slots=True)
class LedgerUnreserve:
    """Operation: drop a reservation whose attempt was never made (no attempt recorded).

    Attributes:
        estimate_usd: What the reservation booked.
    """

    estimate_usd: float

    def __post_init__(self) -> None:
        check_amount("estimate_usd", self.estimate_usd)

    def apply(self, state: LedgerState | None, now: float) -> tuple[LedgerState, None]:
        """Take the estimate off the reserved total."""
        current = state or LedgerState()
        new = replace(
            current,
            reserved_usd=max(0.0, current.reserved_usd - self.estimate_usd),
            open_reservations=max(0, current.open_reservations - 1),
        )
        return new, None

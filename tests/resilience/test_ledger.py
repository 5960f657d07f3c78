"""`CostLedger`: spend by billing status and route, and a cap that is never crossed."""

from __future__ import annotations

import asyncio
import random
from collections.abc import MutableMapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate.errors import BudgetExceeded
from imagegate.resilience.clock import FakeClock
from imagegate.resilience.ledger import (
    CostLedger,
    LedgerReserve,
    LedgerSettle,
    LedgerState,
    LedgerUnreserve,
    Reservation,
)
from imagegate.state import MemoryState, apply_steps


async def test_spend_is_split_by_billing_status_and_route(clock: FakeClock) -> None:
    """Billed and possibly billed costs add up per route; not billed costs nothing."""
    ledger = CostLedger(clock=clock)
    for route, cost, billing in [
        ("gemini", 0.05, "billed"),
        ("gemini", 0.24, "possibly_billed"),
        ("vertex", 0.08, "billed"),
        ("vertex", 0.08, "not_billed"),
    ]:
        reservation = await ledger.reserve(cost, route=route, size="2K")
        await ledger.settle(reservation, cost, billing)  # type: ignore[arg-type]
    spend = ledger.spend()
    assert spend.billed_usd == pytest.approx(0.13)
    assert spend.possibly_billed_usd == pytest.approx(0.24)
    assert spend.total_usd == pytest.approx(0.37)
    assert spend.reserved_usd == 0.0
    assert spend.by_route["gemini"].total_usd == pytest.approx(0.29)
    assert spend.by_route["vertex"].attempts == 2
    assert spend.by_route["vertex"].possibly_billed_usd == 0.0
    assert spend.remaining_usd is None


async def test_a_reservation_that_would_cross_the_cap_raises(clock: FakeClock) -> None:
    """reserve raises BudgetExceeded instead of crossing limit_usd, and books nothing."""
    ledger = CostLedger(limit_usd=0.20, clock=clock)
    first = await ledger.reserve(0.12, route="vertex", size="4K")
    with pytest.raises(BudgetExceeded) as caught:
        await ledger.reserve(0.09, route="vertex", size="4K")
    assert caught.value.spent_usd == pytest.approx(0.12)
    assert caught.value.limit_usd == 0.20
    assert ledger.spend().reserved_usd == pytest.approx(0.12)
    assert await ledger.reserve(0.08, route="gemini")  # exactly to the cap is fine
    await ledger.settle(first, 0.12, "billed")
    assert ledger.spend().remaining_usd == pytest.approx(0.0)


async def test_the_cap_can_be_reached_exactly_despite_float_sums(clock: FakeClock) -> None:
    """0.1 + 0.2 reaches a 0.3 cap although the float sum is 0.30000000000000004."""
    ledger = CostLedger(limit_usd=0.3, clock=clock)
    await ledger.reserve(0.1, route="a")
    await ledger.reserve(0.2, route="a")
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(0.01, route="a")


async def test_unreserving_or_settling_for_less_frees_the_budget(clock: FakeClock) -> None:
    """A reservation taken back and the unspent part of a settled one can be booked again."""
    ledger = CostLedger(limit_usd=1.0, clock=clock)
    unused = await ledger.reserve(0.6, route="a")
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(0.6, route="a")
    await ledger.unreserve(unused)
    cheap = await ledger.reserve(0.6, route="a")
    await ledger.settle(cheap, 0.1, "billed")
    assert await ledger.reserve(0.9, route="a")


async def test_unreserve_leaves_the_ledger_as_if_nothing_was_booked(clock: FakeClock) -> None:
    """unreserve frees the estimate and records no attempt for the route;
    a second unreserve (or one after settle) changes nothing."""
    ledger = CostLedger(limit_usd=1.0, clock=clock)
    kept = await ledger.reserve(0.3, route="a")
    unused = await ledger.reserve(0.6, route="b")
    await ledger.unreserve(unused)
    await ledger.unreserve(unused)
    await ledger.settle(kept, 0.3, "billed")
    await ledger.unreserve(kept)
    spend = ledger.spend()
    assert (spend.reserved_usd, spend.total_usd) == (0.0, pytest.approx(0.3))
    assert list(spend.by_route) == ["a"]
    assert ledger._backend.peek("ledger:default") == LedgerState(
        billed_usd=0.3, by_route=(("a", 0.3, 0.0, 1),)
    )
    with pytest.raises(ValueError, match="already settled"):
        ledger.unreserve_step(unused)


async def test_reserve_step_answers_with_the_error_instead_of_raising(clock: FakeClock) -> None:
    """As a step, a reservation past the cap comes back as the BudgetExceeded that
    reserve would raise, and books nothing."""
    ledger = CostLedger(limit_usd=0.5, clock=clock)
    ok, refused = await apply_steps(
        [ledger.reserve_step(0.4, route="a"), ledger.reserve_step(0.2, route="a")], now=0.0
    )
    assert isinstance(ok, Reservation)
    assert isinstance(refused, BudgetExceeded)
    assert refused.spent_usd == pytest.approx(0.4)
    assert ledger.spend().reserved_usd == pytest.approx(0.4)


def test_unreserve_never_leaves_a_negative_reservation() -> None:
    """LedgerUnreserve on an empty ledger stays at zero (float drift, a lost record)."""
    state, _ = LedgerUnreserve(0.2).apply(LedgerState(reserved_usd=0.1, open_reservations=1), 0.0)
    assert (state.reserved_usd, state.open_reservations) == (0.0, 0)
    assert LedgerUnreserve(0.2).apply(None, 0.0)[0] == LedgerState()


async def test_possibly_billed_attempts_count_against_the_cap(clock: FakeClock) -> None:
    """An attempt that may have been billed is assumed billed for the cap."""
    ledger = CostLedger(limit_usd=0.1, clock=clock)
    reservation = await ledger.reserve(0.08, route="a")
    await ledger.settle(reservation, 0.08, "possibly_billed")
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(0.05, route="a")


async def test_settling_twice_counts_once(clock: FakeClock) -> None:
    """A second settle of the same reservation is ignored."""
    ledger = CostLedger(clock=clock)
    reservation = await ledger.reserve(0.05, route="a")
    await ledger.settle(reservation, 0.05, "billed")
    await ledger.settle(reservation, 0.05, "billed")
    assert ledger.spend().billed_usd == pytest.approx(0.05)
    assert reservation.settled


async def test_without_a_cap_nothing_is_refused(clock: FakeClock) -> None:
    """limit_usd=None only records."""
    ledger = CostLedger(clock=clock)
    for _ in range(100):
        await ledger.reserve(1000.0, route="a")
    assert ledger.spend().reserved_usd == pytest.approx(100_000.0)


async def test_concurrent_requests_never_cross_the_cap() -> None:
    """Fifty concurrent attempts on a fake clock: committed cost never exceeds the cap."""
    async with FakeClock(autojump=True) as clock:
        ledger = CostLedger(limit_usd=1.0, clock=clock)
        rng = random.Random(5)
        refused = 0
        peak = 0.0

        async def attempt() -> None:
            nonlocal refused, peak
            await clock.sleep(rng.uniform(0, 10))
            try:
                reservation = await ledger.reserve(0.15, route="gemini", size="4K")
            except BudgetExceeded:
                refused += 1
                return
            spend = ledger.spend()
            peak = max(peak, spend.total_usd + spend.reserved_usd)
            await clock.sleep(rng.uniform(1, 30))
            await ledger.settle(reservation, 0.15, rng.choice(["billed", "possibly_billed"]))

        await asyncio.gather(*(attempt() for _ in range(50)))
    spend = ledger.spend()
    assert peak <= 1.0 + 1e-9
    assert spend.total_usd <= 1.0 + 1e-9
    assert 50 - refused == 6  # floor(1.0 / 0.15)
    assert spend.reserved_usd == 0.0


async def test_ledgers_sharing_a_backend_share_one_cap(clock: FakeClock) -> None:
    """Two workers' ledgers on one backend and key cannot together cross the cap."""
    backend = MemoryState()
    worker_a = CostLedger(limit_usd=0.1, clock=clock, backend=backend)
    worker_b = CostLedger(limit_usd=0.1, clock=clock, backend=backend)
    await worker_a.reserve(0.06, route="a")
    with pytest.raises(BudgetExceeded):
        await worker_b.reserve(0.06, route="a")
    assert worker_b.spend().reserved_usd == pytest.approx(0.06)


async def test_reservations_are_logged(
    clock: FakeClock, logs: list[MutableMapping[str, Any]]
) -> None:
    """budget.reserved and budget.exceeded carry route, size and amounts."""
    ledger = CostLedger(limit_usd=0.1, clock=clock)
    await ledger.reserve(0.08, route="vertex", size="4K")
    with pytest.raises(BudgetExceeded):
        await ledger.reserve(0.08, route="vertex", size="4K")
    events = [(e["event"], e["route"], e["size"]) for e in logs]
    assert events == [("budget.reserved", "vertex", "4K"), ("budget.exceeded", "vertex", "4K")]
    assert logs[0]["committed_usd"] == pytest.approx(0.08)


async def test_repr_shows_the_spend(clock: FakeClock) -> None:
    """repr shows the live totals."""
    ledger = CostLedger(limit_usd=2.0, clock=clock)
    reservation = await ledger.reserve(0.5, route="a")
    assert repr(ledger) == (
        "CostLedger(billed_usd=0.0000, possibly_billed_usd=0.0000, reserved_usd=0.5000, "
        "limit_usd=2.0000)"
    )
    assert repr(reservation) == "Reservation(0.5, route='a', open)"


async def test_negative_amounts_are_rejected(clock: FakeClock) -> None:
    """A negative cap or estimate is a bug in the caller."""
    with pytest.raises(ValueError, match="limit_usd must not be negative"):
        CostLedger(limit_usd=-1.0)
    with pytest.raises(ValueError, match="estimate_usd must not be negative"):
        await CostLedger(clock=clock).reserve(-0.1, route="a")


@settings(max_examples=300)
@given(
    steps=st.lists(
        st.tuples(
            st.floats(0, 0.5),
            st.floats(0, 1),
            st.sampled_from(["billed", "possibly_billed", "not_billed"]),
            st.booleans(),
        ),
        max_size=60,
    ),
    limit=st.floats(0, 5),
)
def test_committed_cost_never_exceeds_the_cap(
    steps: list[tuple[float, float, str, bool]], limit: float
) -> None:
    """When actual costs never exceed estimates, billed + possibly + reserved stays ≤ cap."""
    state: LedgerState | None = None
    open_estimates: list[float] = []
    for estimate, share, billing, settle_now in steps:
        state, (booked, _) = LedgerReserve(estimate, limit).apply(state, 0.0)
        if booked:
            open_estimates.append(estimate)
        if settle_now and open_estimates:
            booked_estimate = open_estimates.pop(0)
            settle = LedgerSettle(booked_estimate, booked_estimate * share, billing, "r")  # type: ignore[arg-type]
            state, _ = settle.apply(state, 0.0)
        assert state.committed_usd <= limit + 1e-6
        assert state.reserved_usd == pytest.approx(sum(open_estimates), abs=1e-9)

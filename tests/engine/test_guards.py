"""Guards plugged into the engine's pipeline (`imagegate.guards`) without touching the run:
a peek that skips options with its own reason, and a booking that joins the gate's one
round trip and is refused there."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

import pytest

from imagegate import FakeClock, Route, Router
from imagegate._flight import Flight
from imagegate.errors import AllRoutesFailed, QuotaExhausted
from imagegate.guards import BUILTIN_GUARDS, Booking, Check, GateRefusal, Guard, LedgerGuard
from imagegate.resilience.retry import RetryPolicy
from imagegate.state import MemoryState, StateBackend, Step
from imagegate.testing import FakeProvider


class No4K(Guard):
    """A toy policy: never a 4K image."""

    def peek(self, check: Check) -> str | None:
        """Refuses every 4K option with its own reason."""
        return "no 4K here" if check.option.size == "4K" else None


@dataclass(frozen=True, slots=True)
class Take:
    """Take one of ``limit`` tickets (True), or none when all are taken (False)."""

    limit: int

    def apply(self, state: int | None, now: float) -> tuple[int | None, bool]:
        """The count of tickets taken, one more when one is left."""
        taken = state or 0
        return (taken + 1, True) if taken < self.limit else (taken, False)


@dataclass(frozen=True, slots=True)
class GiveBack:
    """Hand one ticket back."""

    def apply(self, state: int | None, now: float) -> tuple[int | None, None]:
        """One ticket fewer taken."""
        return (state or 1) - 1, None


class AttemptTickets(Guard):
    """A toy policy with a booking: at most ``limit`` attempts ever, counted in shared
    state next to the built-in bookings."""

    def __init__(self, limit: int, backend: StateBackend) -> None:
        self.limit = limit
        self.backend = backend

    def book(self, flight: Flight) -> Booking[Any]:
        """One ticket, booked in the gate's round trip."""

        def refusal(took: bool) -> GateRefusal | None:
            return None if took else GateRefusal("out of attempt tickets")

        def undo(took: bool) -> Step[None]:
            return Step(self.backend, "tickets", GiveBack(), lambda _: None)

        return Booking(Step(self.backend, "tickets", Take(self.limit), bool), refusal, undo)


def _router(fake: FakeProvider, clock: FakeClock, *guards: Guard) -> Router:
    retry = RetryPolicy(attempts=1, rng=random.Random(1))
    router = Router([Route(fake, model="m")], clock=clock, retry=retry, hedge=None, order="ladder")
    router.engine.guards = guards
    return router


async def test_a_toy_guard_steps_a_request_down_with_its_reason(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A 4K request steps down to 2K: the 4K option is never called."""
    async with _router(fake, clock, No4K()) as router:
        result = await router.generate("a lighthouse", size="4K")
    assert (result.requested_size, result.size, result.downgraded) == ("4K", "2K", True)
    assert [a.size for a in result.attempts] == ["2K"]
    assert [c.request.size for c in fake.calls] == ["2K"]


async def test_a_toy_guards_reason_is_in_the_failure(clock: FakeClock, fake: FakeProvider) -> None:
    """Without a step down, the request fails naming the toy guard's reason."""
    async with _router(fake, clock, No4K()) as router:
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse", size="4K", allow_downgrade=False)
    assert caught.value.skipped == ("fake/m@4K: no 4K here",)
    assert "skipped fake/m@4K: no 4K here" in str(caught.value)
    assert not fake.calls


async def test_extra_guards_come_after_the_builtin_ones(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """An open breaker is still the reason given, not the toy guard's."""
    async with _router(fake, clock, No4K()) as router:
        assert router.engine.pipeline().guards == (*BUILTIN_GUARDS, *router.engine.guards)
        breaker = router.engine.breakers.get("fake/m", "4K")
        await breaker.open_for_quota(QuotaExhausted("used up for the day"))
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a lighthouse", size="4K", allow_downgrade=False)
    assert caught.value.skipped == ("fake/m@4K: breaker open",)


async def test_a_guards_booking_joins_the_gate_and_its_refusal_hands_back_the_rest(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """One ticket: the first request books it with the breaker permit and the budget
    reservation in one round trip; the second is refused at the gate with the guard's
    reason, and its budget reservation leaves no trace."""
    async with _router(fake, clock) as router:
        state = router.state
        assert isinstance(state, MemoryState)
        router.engine.guards = (AttemptTickets(1, state),)
        first = await router.generate("a lighthouse")
        operations = state.statistics().operations
        with pytest.raises(AllRoutesFailed) as caught:
            await router.generate("a harbour")
        # The booking (permit, reservation, ticket) and its undo, nothing else.
        assert state.statistics().operations == operations + 3 + 2
    assert [a.outcome for a in first.attempts] == ["success"]
    assert caught.value.skipped == ("fake/m@1K: out of attempt tickets",)
    assert caught.value.attempts == ()
    assert len(fake.calls) == 1
    spend = router.spend()
    assert (spend.reserved_usd, spend.by_route["fake/m"].attempts) == (0.0, 1)


class SeesTheSettlement(Guard):
    """A toy policy whose settlement waits (a checkpoint, as a round trip would): it
    notes what the built-in guards had settled when its turn came."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, int]] = []

    async def settle(self, flight: Flight, taken: Any, attempt: Any) -> None:
        """Notes the breaker's calls and the ledger's attempts, after a checkpoint."""
        await asyncio.sleep(0)
        engine = flight.run.engine
        calls = engine.breakers.get(flight.option.route.name, flight.option.size)
        spend = engine.ledger.spend().by_route.get(flight.option.route.name)
        self.seen.append((calls.statistics().calls, 0 if spend is None else spend.attempts))


async def test_a_guard_whose_settlement_waits_comes_after_the_builtin_settlements(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """The built-in guards settle at once; a guard that waits settles after them, in the
    pipeline's order, and the request ends only once it has."""
    guard = SeesTheSettlement()
    async with _router(fake, clock, guard) as router:
        await router.generate("a lighthouse")
        await router.generate("a harbour")
    assert guard.seen == [(1, 1), (2, 2)]


class CountedLedger(LedgerGuard):
    """A built-in guard extended: its own settlement, then the ledger's."""

    def __init__(self) -> None:
        self.settled = 0

    async def settle(self, flight: Flight, taken: Any, attempt: Any) -> None:
        """Counts, then settles as the ledger guard does."""
        self.settled += 1
        await super().settle(flight, taken, attempt)


async def test_a_builtin_guard_extended_with_its_own_settle_is_settled_by_it(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """The built-in guards' quicker settlement is not used for a subclass that overrides
    `settle`: the override runs, once per attempt."""
    guard = CountedLedger()
    async with _router(fake, clock, guard) as router:
        await router.generate("a lighthouse")
        await router.generate("a harbour")
    assert guard.settled == 2

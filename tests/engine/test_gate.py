"""The gate (`imagegate._gate.pass_gate`): breaker permit, rate booking and budget
reservation taken in one step, and what it hands back when one of them refuses."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from imagegate import FakeClock, Route, Router
from imagegate._gate import GatePass, GateRefusal, pass_gate
from imagegate.errors import BudgetExceeded, Overloaded
from imagegate.resilience.breaker import BreakerPolicy, CircuitBreaker
from imagegate.resilience.ledger import CostLedger, LedgerState
from imagegate.resilience.ratelimit import RateLimit, RateLimiter
from imagegate.resilience.retry import RetryPolicy
from imagegate.state import MemoryState
from imagegate.testing import FakeProvider, fail


@dataclass
class Parts:
    """A breaker, a limiter and a ledger on one backend, as a router holds them."""

    clock: FakeClock
    backend: MemoryState
    breaker: CircuitBreaker
    limiter: RateLimiter
    ledger: CostLedger

    async def gate(self, *, max_wait_s: float | None = None) -> GatePass | GateRefusal:
        """One pass through the gate for a one-image attempt estimated at $0.10."""
        return await pass_gate(
            self.breaker,
            self.limiter,
            self.ledger,
            n=1,
            max_wait_s=max_wait_s,
            estimate_usd=0.1,
            route="gemini",
            size="1K",
            clock=self.clock,
        )

    def ledger_record(self) -> LedgerState | None:
        """The ledger's record as stored."""
        record = self.backend.peek("ledger:default")
        assert record is None or isinstance(record, LedgerState)
        return record

    async def open_breaker(self) -> None:
        """One failure opens it (consecutive_failures=1)."""
        permit = await self.breaker.try_acquire()
        assert permit is not None
        await self.breaker.record_failure(permit, Overloaded("busy"), duration_s=1.0)
        assert self.breaker.state == "open"


def _parts(clock: FakeClock, *, limit_usd: float | None = None) -> Parts:
    backend = MemoryState()
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=10.0)
    return Parts(
        clock,
        backend,
        CircuitBreaker("gemini", "1K", policy, clock=clock, backend=backend),
        RateLimiter("gemini", RateLimit(rpm=6, margin_s=0.0), clock=clock, backend=backend),
        CostLedger(limit_usd=limit_usd, clock=clock, backend=backend),
    )


async def test_a_pass_holds_the_permit_the_booking_and_the_reservation(
    clock: FakeClock,
) -> None:
    """Through the gate: a permit, a reservation, and the rate limit's wait."""
    parts = _parts(clock)
    first, second = await parts.gate(), await parts.gate()
    assert isinstance(first, GatePass)
    assert isinstance(second, GatePass)
    assert (first.wait_s, second.wait_s) == (0.0, 10.0)
    assert not first.permit.probe
    assert parts.ledger.spend().reserved_usd == pytest.approx(0.2)
    assert parts.backend.statistics().operations == 6


async def test_an_open_breaker_hands_back_the_booking_and_the_reservation(
    clock: FakeClock,
) -> None:
    """Breaker refused: the rate booking and the budget reservation are undone, as if
    never taken (the next request starts at once, the ledger records no attempt)."""
    parts = _parts(clock)
    await parts.open_breaker()
    refusal = await parts.gate()
    assert refusal == GateRefusal("breaker open")
    assert parts.limiter.estimate_wait_s() == 0.0
    assert parts.ledger_record() == LedgerState()
    assert parts.ledger.spend().by_route == {}


async def test_a_rate_limit_refusal_releases_the_probe_and_the_reservation(
    clock: FakeClock,
) -> None:
    """Rate limit refused (the wait would not fit): the half-open probe permit is free
    again and the reservation is gone."""
    parts = _parts(clock)
    await parts.open_breaker()
    clock.advance(10.0)
    assert await parts.limiter.reserve(max_wait_s=None) == 0.0
    refusal = await parts.gate(max_wait_s=5.0)
    assert refusal == GateRefusal("rate limit or quota leaves no room")
    stats = parts.breaker.statistics()
    assert (stats.state, stats.probes_in_flight) == ("half_open", 0)
    assert parts.breaker.allow()
    assert parts.ledger_record() == LedgerState()


async def test_a_budget_refusal_ends_the_request_and_hands_back_the_rest(
    clock: FakeClock,
) -> None:
    """Budget refused: the BudgetExceeded comes back to end the request; the probe
    permit and the rate booking are handed back."""
    parts = _parts(clock, limit_usd=0.05)
    await parts.open_breaker()
    clock.advance(10.0)
    refusal = await parts.gate()
    assert isinstance(refusal, GateRefusal)
    assert isinstance(refusal.error, BudgetExceeded)
    assert parts.breaker.statistics().probes_in_flight == 0
    assert parts.limiter.estimate_wait_s() == 0.0


async def test_the_open_breaker_is_the_reason_when_several_refuse(clock: FakeClock) -> None:
    """Breaker open and budget spent: the option is skipped for its breaker (a budget
    refusal would end the whole request)."""
    parts = _parts(clock, limit_usd=0.05)
    await parts.open_breaker()
    assert await parts.gate() == GateRefusal("breaker open")


def _router(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(attempts=1, rng=random.Random(1)))
    kwargs.setdefault("order", "ladder")  # the routes in the order given, not learned
    return Router(routes, clock=clock, hedge=None, **kwargs)


async def test_a_breaker_that_opens_while_an_attempt_queues_refuses_it_at_the_gate(
    clock: FakeClock,
) -> None:
    """One dispatcher slot: "late" passes planning while gemini is healthy, then queues
    behind "hog", whose failure opens the breaker. At the gate, late is refused and goes
    to the backup; its rate booking and budget reservation on gemini leave no trace."""
    a, b = FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)
    a.script("1K", fail(Overloaded("busy"), latency_s=10.0))
    routes = [Route(a, model="m", rate_limit=RateLimit(rpm=6, margin_s=0.0)), Route(b, model="m")]
    policy = BreakerPolicy(consecutive_failures=1)
    router = _router(routes, clock, max_in_flight=1, breaker=policy, budget_usd=100.0)
    async with router, anyio.create_task_group() as tg:
        tg.start_soon(router.generate, "hog")
        await clock.run_until_idle()
        late = await router.generate("late")
        limiter = router.engine.limiters[0]
        assert limiter is not None
        assert limiter.statistics().reserved == 2  # late booked at the gate ...
        assert limiter.estimate_wait_s() == pytest.approx(0.0)  # ... and handed it back
        tg.cancel_scope.cancel()
    assert late.route == "b/m"
    assert [t.route for t in late.attempts] == ["b/m"]
    assert len(a.calls) == 1
    spend = router.spend()
    assert spend.reserved_usd == 0.0
    assert spend.by_route["a/m"].attempts == 1

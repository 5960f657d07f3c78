"""`RedisState.apply_many`: several operations in one pipeline (one round trip), the same
answers as the in-memory reference, and the router's gate taking exactly one round trip."""

from __future__ import annotations

import uuid
from typing import Any

import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from imagegate._gate import GatePass, pass_gate
from imagegate.resilience.breaker import (
    BreakerAcquire,
    BreakerPolicy,
    BreakerReport,
    CircuitBreaker,
)
from imagegate.resilience.clock import FakeClock
from imagegate.resilience.ledger import CostLedger, LedgerReserve, LedgerSettle
from imagegate.resilience.ratelimit import RateLimit, RateLimiter, RateReserve
from imagegate.state import MemoryState, RedisState
from imagegate.state.redis import _SCRIPTS

from ._redis import RedisServer, free_port
from .test_scripts import SETTINGS, ledger_ops, rate_ops


class CountingClient:
    """A redis.asyncio client that counts what it is asked to send (the test's view of
    the round trips); everything else goes to the real client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.pipelines = 0
        self.single_calls = 0

    def pipeline(self, **kwargs: Any) -> Any:
        """A pipeline (one round trip when executed)."""
        self.pipelines += 1
        return self.client.pipeline(**kwargs)

    async def evalsha(self, *args: Any) -> Any:
        """One script on its own (one round trip)."""
        self.single_calls += 1
        return await self.client.evalsha(*args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@st.composite
def batches(draw: st.DrawFn) -> list[tuple[float, list[tuple[str, Any]]]]:
    """Gate-like batches: per step one operation on each of a rate limit, a breaker and
    the ledger (distinct keys), at the rate operation's ``now``."""
    rates = draw(rate_ops())
    ledgers = draw(ledger_ops())
    policy = BreakerPolicy(consecutive_failures=2, cooldown_s=30.0)
    out = []
    for k, (now, rate) in enumerate(rates):
        batch: list[tuple[str, Any]] = [("ratelimit:q", rate)]
        if draw(st.integers(0, 3)) == 0:
            batch.append(("breaker:r:1K", BreakerReport(policy, "failure", 1.0)))
        else:
            batch.append(("breaker:r:1K", BreakerAcquire(policy)))
        if k < len(ledgers):
            batch.append(("ledger:default", ledgers[k][1]))
        out.append((now, batch))
    return out


@SETTINGS
@given(drawn=batches())
async def test_apply_many_matches_the_reference(shared: RedisState, drawn: Any) -> None:
    """Each batch through one pipeline answers and stores exactly what MemoryState does
    applying the operations one by one."""
    reference = MemoryState()
    tag = uuid.uuid4().hex
    for now, batch in drawn:
        keyed = [(f"{key}{tag}", op) for key, op in batch]
        got = await shared.apply_many(keyed, now=now)
        assert not shared.degraded, shared.statistics().last_error
        expected = [await reference.apply(key, op, now=now) for key, op in keyed]
        assert got == expected, batch
        for key, _ in keyed:
            assert shared.peek(key) == reference.peek(key), key


async def test_apply_many_sends_again_the_scripts_the_server_lost(shared: RedisState) -> None:
    """After SCRIPT FLUSH the scripts a pipeline needs are sent again and every operation
    still runs in Redis."""
    await shared._client.script_flush()  # the test inspects the server the backend talks to
    ops: list[tuple[str, Any]] = [
        ("ratelimit:q", RateReserve(1, RateLimit(rpm=60, margin_s=0.0), 1, 1e4, None)),
        ("ledger:default", LedgerReserve(0.5, 1.0)),
        ("ledger:other", LedgerSettle(0.5, 0.4, "billed", "gemini")),
    ]
    assert await shared.apply_many(ops, now=0.0) == [0.0, (True, 0.0), None]
    assert await shared.apply_many(ops[:1], now=0.0) == [1.0]
    stats = shared.statistics()
    assert (stats.remote_operations, stats.local_operations) == (4, 0)


async def test_apply_many_without_redis_answers_from_local_state() -> None:
    """Nothing listening: the batch runs on local state, with the reference's answers."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    ops: list[tuple[str, Any]] = [
        ("ratelimit:q", RateReserve(1, RateLimit(rpm=30), 1, 1e4, None)),
        ("breaker:r:1K", BreakerAcquire(BreakerPolicy())),
        ("ledger:default", LedgerReserve(0.5, 1.0)),
    ]
    reference = MemoryState()
    async with RedisState(url, retry_interval_s=60.0, warn_interval_s=60.0) as state:
        for _ in range(2):
            got = await state.apply_many(ops, now=10.0)
            assert got == await reference.apply_many(ops, now=10.0)
        assert state.degraded
        assert state.statistics().local_operations == 6


async def test_the_gate_is_one_round_trip(redis_server: RedisServer, prefix: str) -> None:
    """Breaker permit, rate booking and budget reservation: one pipeline, nothing else;
    a refusal adds exactly one more for the undo."""
    client = CountingClient(aioredis.Redis.from_url(redis_server.url, decode_responses=True))
    clock = FakeClock()
    try:
        state = RedisState(prefix=prefix, client=client, clock="caller")
        breaker = CircuitBreaker("gemini", "1K", clock=clock, backend=state)
        limiter = RateLimiter("q", RateLimit(rpm=6, margin_s=0.0), clock=clock, backend=state)
        ledger = CostLedger(limit_usd=0.25, clock=clock, backend=state)

        async def gate() -> Any:
            return await pass_gate(
                breaker,
                limiter,
                ledger,
                n=1,
                max_wait_s=None,
                estimate_usd=0.1,
                route="gemini",
                size="1K",
                clock=clock,
            )

        for script in _SCRIPTS.values():  # as after a first use of each
            await client.script_load(script.text)
        assert isinstance(await gate(), GatePass)
        assert (client.pipelines, client.single_calls) == (1, 0)
        assert isinstance(await gate(), GatePass)
        assert (client.pipelines, client.single_calls) == (2, 0)
        refused = await gate()  # over budget: the permit and the booking are handed back
        assert not isinstance(refused, GatePass)
        assert (client.pipelines, client.single_calls) == (4, 0)
        assert limiter.estimate_wait_s() == 20.0
        assert state.statistics().local_operations == 0
    finally:
        await client.client.aclose()

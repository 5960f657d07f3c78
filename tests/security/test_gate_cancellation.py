"""Cancelling a request while its gate round trip is on the wire leaks nothing shared."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import redis.asyncio as aioredis

from imagegate import Route, Router
from imagegate.state import MemoryState, Operation, RedisState
from imagegate.testing import FakeProvider, succeed
from state._redis import RedisServer

REQUESTS = 1500

S = TypeVar("S")
R = TypeVar("R")


async def test_cancelled_requests_leave_no_shared_reservation(
    redis_server: RedisServer, prefix: str
) -> None:
    """1,500 requests, each cancelled after a random sub-millisecond delay, many of them
    while the gate's round trip to Redis is under way: every reservation booked in the
    shared ledger is handed back or settled, none stays open."""
    rng = random.Random(0)
    async with RedisState(redis_server.url, prefix=prefix) as state:
        provider = FakeProvider(default=succeed())
        async with Router([Route(provider, model="m")], state=state, budget_usd=1e6) as router:
            for _ in range(REQUESTS):
                with anyio.move_on_after(rng.uniform(0.0, 0.0015)):
                    await router.generate("a lighthouse")
        key = state.redis_key("ledger:default")  # the router's ledger (CostLedger key "default")
    client: Any = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        record = await client.hgetall(key)
    finally:
        await client.aclose()
    assert record, "the shared ledger was never written"
    assert int(float(record.get("o", 0))) == 0, f"open reservations left: {record}"
    assert float(record.get("r", 0)) == 0.0, f"reserved left: {record}"


class _RemoteLikeState(MemoryState):
    """A `MemoryState` that, like any remote backend, yields to the loop before each
    round trip answers: a cancellation can land while an operation is under way."""

    async def apply(self, key: str, op: Operation[S, R], *, now: float) -> R:
        await anyio.lowlevel.checkpoint()
        return await super().apply(key, op, now=now)

    async def apply_many(
        self, ops: Sequence[tuple[str, Operation[Any, Any]]], *, now: float
    ) -> list[Any]:
        await anyio.lowlevel.checkpoint()
        return await super().apply_many(ops, now=now)


async def test_a_request_cancelled_while_it_settles_leaves_nothing_reserved() -> None:
    """Cancellations that land during the booking, the call and the settlement: once
    every request has ended, nothing stays reserved and nothing was handed back twice."""
    rng = random.Random(1)
    state = _RemoteLikeState()
    provider = FakeProvider(default=succeed())
    async with Router([Route(provider, model="m")], state=state, budget_usd=1e6) as router:
        for _ in range(300):
            with anyio.CancelScope() as scope:
                # Cancel after a random number of loop turns: the request is then at the
                # gate, in its call, or settling.
                async with anyio.create_task_group() as tg:

                    async def cancel_soon(turns: int = rng.randrange(12)) -> None:
                        for _ in range(turns):
                            await anyio.lowlevel.checkpoint()
                        scope.cancel()

                    tg.start_soon(cancel_soon)
                    await router.generate("a lighthouse")
                    tg.cancel_scope.cancel()
        spend = router.spend()
    assert abs(spend.reserved_usd) < 1e-9, spend
    assert spend.total_usd >= 0

"""Cancelling a request while its gate round trip is on the wire leaks nothing shared."""

from __future__ import annotations

import random
from typing import Any

import anyio
import redis.asyncio as aioredis

from imagegate import Route, Router
from imagegate.state import RedisState
from imagegate.testing import FakeProvider, succeed
from state._redis import RedisServer

REQUESTS = 1500


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

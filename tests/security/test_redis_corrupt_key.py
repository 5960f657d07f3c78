"""A corrupt record in Redis affects the operations on its key only, never the other
keys; the ledger scripts refuse amounts that are NaN, infinite or negative (real server)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from _logcapture import captured_events
from imagegate.resilience.breaker import BreakerAcquire, BreakerPolicy
from imagegate.resilience.ledger import LedgerReserve, LedgerSettle, LedgerState
from imagegate.resilience.ratelimit import RateLimit, RateReserve
from imagegate.state import RedisState
from imagegate.state.redis import _SCRIPTS
from state._redis import RedisServer

LEDGER = "ledger:default"
RATE = "ratelimit:gemini"
BREAKER = "breaker:gemini/m:1K"


@pytest.fixture
def logs() -> Any:
    """Captured log events."""
    with captured_events() as captured:
        yield captured


@pytest.fixture
async def raw(redis_server: RedisServer) -> Any:
    """A plain client, to write what a broken or hostile writer would."""
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def _use_all(state: RedisState) -> None:
    """One operation on a ledger, a rate limit and a breaker."""
    await state.apply(LEDGER, LedgerReserve(0.01, 1.0), now=0.0)
    reserve = RateReserve(1, RateLimit(rpm=60), day=0, reset_in_s=60.0, max_wait_s=None)
    await state.apply(RATE, reserve, now=0.0)
    await state.apply(BREAKER, BreakerAcquire(BreakerPolicy()), now=0.0)


@pytest.mark.parametrize(
    ("key", "field", "value"),
    [
        (LEDGER, "b", "not-a-number"),
        (LEDGER, "b", "nan"),
        (LEDGER, "p", "-5"),
        (LEDGER, "R:gemini/m", "0;x;0;1"),
        (RATE, "rt", "garbage"),
        (RATE, "ut", "inf"),
        (BREAKER, "ou", "nan"),
        (BREAKER, "bk", "1,2"),
        (BREAKER, "s", "exploded"),
    ],
)
async def test_a_corrupt_record_affects_its_key_only(
    redis_server: RedisServer, raw: Any, prefix: str, logs: Any, key: str, field: str, value: str
) -> None:
    """One corrupt field: that key runs on local state and is logged; the rest stay shared."""
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        await _use_all(state)
        remote = state.statistics().remote_operations
        await raw.hset(state.redis_key(key), field, value)

        await _use_all(state)
        await _use_all(state)

        assert not state.degraded
        stats = state.statistics()
        assert stats.outages == 0
        assert stats.local_operations == 2  # the corrupt key's two operations
        assert stats.remote_operations == remote + 4  # the other two keys, twice
        corrupt = [e for e in logs if e["event"] == "state.corrupt_record"]
        assert len(corrupt) == 1  # loud, but once per warn_interval_s
        assert corrupt[0]["log_level"] == "error"
        assert corrupt[0]["key"] == state.redis_key(key)
        assert "CORRUPT_RECORD" in corrupt[0]["error"]
        assert not [e for e in logs if e["event"] == "state.degraded"]


async def test_a_nan_ledger_does_not_turn_the_cap_off(
    redis_server: RedisServer, raw: Any, prefix: str
) -> None:
    """A NaN stored in the shared ledger is refused, not compared: the cap still holds."""
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        assert await state.apply(LEDGER, LedgerReserve(0.06, 0.10), now=0.0) == (True, 0.0)
        await state.apply(LEDGER, LedgerSettle(0.06, 0.06, "billed", "a"), now=0.0)
        await raw.hset(state.redis_key(LEDGER), "b", "nan")

        booked = [(await state.apply(LEDGER, LedgerReserve(0.06, 0.10), now=0.0))[0]]
        booked += [(await state.apply(LEDGER, LedgerReserve(0.01, 0.10), now=0.0))[0]]
        assert booked == [False, True]  # from the last good copy: 0.06 spent
        record = state.peek(LEDGER)
        assert isinstance(record, LedgerState)
        assert record.committed_usd == pytest.approx(0.07)


async def test_once_repaired_the_key_is_shared_again_with_the_local_spend(
    redis_server: RedisServer, raw: Any, prefix: str, logs: Any
) -> None:
    """After the corrupt record is deleted, the key is shared again and what was booked
    locally meanwhile is added to it."""
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        await state.apply(LEDGER, LedgerReserve(0.05, 1.0), now=0.0)
        await raw.hset(state.redis_key(LEDGER), "o", "many")
        await state.apply(LEDGER, LedgerSettle(0.05, 0.05, "billed", "a"), now=0.0)
        await raw.delete(state.redis_key(LEDGER))

        assert await state.apply(LEDGER, LedgerReserve(0.01, 1.0), now=0.0) == (True, 0.0)
        assert [e["event"] for e in logs if e["event"].startswith("state.")] == [
            "state.corrupt_record",
            "state.record_repaired",
        ]
        fields = await raw.hgetall(state.redis_key(LEDGER))
        assert float(fields["b"]) == pytest.approx(0.05)
        assert state.statistics().local_operations == 1


@pytest.mark.parametrize("amount", ["nan", "-nan", "inf", "-inf", "1e400", "-1000", "-1e-9"])
@pytest.mark.parametrize("script", ["ledger_reserve", "ledger_settle", "ledger_unreserve"])
async def test_the_ledger_scripts_refuse_amounts_that_are_not_prices(
    redis_server: RedisServer, raw: Any, prefix: str, script: str, amount: str
) -> None:
    """Sent by any client, a NaN, infinite or negative amount is refused; nothing is stored."""
    key = f"{prefix}:ledger:{{default}}"
    args = {
        "ledger_reserve": [amount, "0.10"],
        "ledger_settle": ["0.01", amount, "billed", "a"],
        "ledger_unreserve": [amount],
    }[script]
    with pytest.raises(aioredis.ResponseError, match="REFUSED_ARGUMENT"):
        await raw.eval(_SCRIPTS[script].text, 1, key, "0", "1.0", "1700000000", "60", *args)
    assert await raw.exists(key) == 0


async def test_redis_state_raises_for_a_refused_amount(
    redis_server: RedisServer, prefix: str
) -> None:
    """A refusal is the caller's bug: ValueError, and the backend does not go degraded."""
    op = LedgerReserve(0.01, 0.10)
    object.__setattr__(op, "estimate_usd", float("nan"))  # past the Python check
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        with pytest.raises(ValueError, match="REFUSED_ARGUMENT"):
            await state.apply(LEDGER, op, now=0.0)
        assert not state.degraded

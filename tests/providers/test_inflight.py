"""`BytesInFlight`: calls wait in order until their bytes fit; nothing leaks on cancel."""

from __future__ import annotations

import asyncio

import pytest

from imagegate.providers._inflight import BytesInFlight


async def _hold(
    budget: BytesInFlight, size: int, log: list[str], name: str, release: asyncio.Event
) -> None:
    async with budget.hold(size):
        log.append(f"+{name}")
        await release.wait()
    log.append(f"-{name}")


async def test_calls_wait_in_order_until_their_bytes_fit() -> None:
    """6 + 6 > 10: the second waits for the first; a small third waits its turn behind it
    (first come, first served), and a hold larger than the budget runs alone."""
    budget = BytesInFlight(10)
    log: list[str] = []
    gates = {name: asyncio.Event() for name in "abcd"}
    tasks = [
        asyncio.create_task(_hold(budget, size, log, name, gates[name]))
        for name, size in (("a", 6), ("b", 6), ("c", 1), ("d", 50))
    ]
    await asyncio.sleep(0)
    assert log == ["+a"]
    assert budget.used == 6
    gates["a"].set()
    await asyncio.sleep(0.01)
    assert log == ["+a", "-a", "+b", "+c"]
    gates["b"].set()
    gates["c"].set()
    await asyncio.sleep(0.01)
    assert log[-1] == "+d"
    assert budget.used == 50
    gates["d"].set()
    await asyncio.gather(*tasks)
    assert budget.used == 0


async def test_a_waiter_cancelled_takes_nothing_and_lets_the_next_in() -> None:
    """A call cancelled while it waits holds no bytes, and whoever fits behind it starts."""
    budget = BytesInFlight(10)
    log: list[str] = []
    first, never, small = asyncio.Event(), asyncio.Event(), asyncio.Event()
    holder = asyncio.create_task(_hold(budget, 8, log, "a", first))
    await asyncio.sleep(0)
    big = asyncio.create_task(_hold(budget, 9, log, "b", never))
    little = asyncio.create_task(_hold(budget, 2, log, "c", small))
    await asyncio.sleep(0)
    assert log == ["+a"]
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    await asyncio.sleep(0)
    assert log == ["+a", "+c"]  # 8 + 2 fits once the 9 stopped waiting
    first.set()
    small.set()
    await asyncio.gather(holder, little)
    assert budget.used == 0


async def test_a_holder_cancelled_hands_its_bytes_back() -> None:
    """Cancelling a call in flight releases its bytes."""
    budget = BytesInFlight(10)
    log: list[str] = []
    task = asyncio.create_task(_hold(budget, 7, log, "a", asyncio.Event()))
    await asyncio.sleep(0)
    assert budget.used == 7
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert budget.used == 0
    assert "used=0," in repr(budget)

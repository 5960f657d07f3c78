"""`MemoryState`: the in-memory `StateBackend`; `apply_steps` over one or several backends."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imagegate.resilience.breaker import CircuitBreaker
from imagegate.resilience.clock import FakeClock
from imagegate.resilience.ledger import CostLedger
from imagegate.state import MemoryState, StateBackend, Step, apply_steps, apply_steps_now


@dataclass(frozen=True)
class _Add:
    amount: int

    def apply(self, state: int | None, now: float) -> tuple[int | None, int]:
        total = (state or 0) + self.amount
        return (None if total == 0 else total), total


async def test_apply_stores_the_new_record_and_returns_the_result() -> None:
    """An operation's new record is stored under its key and its result returned."""
    backend = MemoryState()
    assert await backend.apply("k", _Add(2), now=0.0) == 2
    assert await backend.apply("k", _Add(3), now=1.0) == 5
    assert backend.peek("k") == 5
    assert backend.peek("other") is None


async def test_a_none_record_deletes_the_key() -> None:
    """Returning None as the new record removes the key."""
    backend = MemoryState()
    await backend.apply("k", _Add(2), now=0.0)
    await backend.apply("k", _Add(-2), now=0.0)
    assert backend.peek("k") is None
    assert backend.statistics().keys == 0


async def test_statistics_and_repr_show_keys_and_operations() -> None:
    """statistics() and repr count the keys held and the operations applied."""
    backend = MemoryState()
    await backend.apply("a", _Add(1), now=0.0)
    await backend.apply("b", _Add(1), now=0.0)
    await backend.apply("b", _Add(1), now=0.0)
    assert backend.statistics().keys == 2
    assert backend.statistics().operations == 3
    assert repr(backend) == "MemoryState(keys=2, operations=3)"


def test_memory_state_satisfies_the_backend_protocol() -> None:
    """MemoryState is a StateBackend (runtime-checkable protocol)."""
    assert isinstance(MemoryState(), StateBackend)


async def test_apply_many_applies_each_operation_in_turn() -> None:
    """apply_many returns each operation's result in order, as apply would one by one."""
    backend = MemoryState()
    results = await backend.apply_many([("a", _Add(1)), ("b", _Add(5)), ("a", _Add(2))], now=0.0)
    assert results == [1, 5, 3]
    assert (backend.peek("a"), backend.peek("b")) == (3, 5)
    assert backend.statistics().operations == 3
    assert await backend.apply_many([], now=0.0) == []


async def test_apply_steps_finishes_each_result_and_groups_by_backend() -> None:
    """Steps on two backends: one apply_many each, every result finished, in step order."""
    first, second = MemoryState(), MemoryState()
    steps = [
        Step(first, "k", _Add(1), lambda total: f"first:{total}"),
        Step(second, "k", _Add(10), lambda total: f"second:{total}"),
        Step(first, "j", _Add(2), str),
    ]
    assert await apply_steps(steps, now=0.0) == ["first:1", "second:10", "2"]
    assert (first.peek("k"), first.peek("j"), second.peek("k")) == (1, 2, 10)
    assert await apply_steps([], now=0.0) == []


class _Remote:
    """A backend that answers after a checkpoint, as one over a network would."""

    def __init__(self) -> None:
        self.inner = MemoryState()

    async def apply(self, key: str, op: Any, *, now: float) -> Any:
        await asyncio.sleep(0)
        return await self.inner.apply(key, op, now=now)

    async def apply_many(self, ops: Sequence[tuple[str, Any]], *, now: float) -> list[Any]:
        await asyncio.sleep(0)
        return await self.inner.apply_many(ops, now=now)

    def peek(self, key: str) -> object | None:
        return self.inner.peek(key)


async def test_apply_steps_now_applies_in_memory_steps_at_once_and_nothing_elsewhere() -> None:
    """On MemoryStates every step is applied and finished at once; with one step on
    another backend, nothing is applied (None) and `apply_steps` is the way."""
    a, b, remote = MemoryState(), MemoryState(), _Remote()
    steps = [Step(a, "k", _Add(2), str), Step(b, "k", _Add(5), str)]
    assert apply_steps_now(steps, now=0.0) == ["2", "5"]
    assert apply_steps_now([*steps, Step(remote, "k", _Add(1), str)], now=0.0) is None
    assert (a.peek("k"), b.peek("k"), remote.peek("k")) == (2, 5, None)


async def test_breaker_and_ledger_settle_at_once_in_memory_else_hand_back_the_round_trip() -> None:
    """`CircuitBreaker.record` and `CostLedger.settle_now` apply at once on a MemoryState
    (None); on another backend they return the round trip, which applies when awaited."""
    for backend in (MemoryState(), _Remote()):
        breaker = CircuitBreaker("r", "1K", clock=FakeClock(), backend=backend)  # type: ignore[arg-type]
        ledger = CostLedger(clock=FakeClock(), backend=backend)  # type: ignore[arg-type]
        permit = await breaker.try_acquire()
        assert permit is not None
        reservation = await ledger.reserve(0.1, route="r", size="1K")
        pending = [
            breaker.record(permit, None, duration_s=1.0),
            ledger.settle_now(reservation, 0.1, "billed"),
        ]
        remote = isinstance(backend, _Remote)
        assert [p is not None for p in pending] == [remote, remote]
        for p in pending:
            if p is not None:
                await p
        assert (breaker.statistics().calls, ledger.spend().billed_usd) == (1, 0.1)

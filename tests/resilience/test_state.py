"""`MemoryState`: the in-memory `StateBackend`; `apply_steps` over one or several backends."""

from __future__ import annotations

from dataclasses import dataclass

from imagegate.state import MemoryState, StateBackend, Step, apply_steps


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

"""`MemoryState`: the in-memory `StateBackend`."""

from __future__ import annotations

from dataclasses import dataclass

from imagegate.state import MemoryState, StateBackend


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

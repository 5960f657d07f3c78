"""`MemoryState`: the default `StateBackend`, a dict in this process."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from imagegate.state import Operation

__all__ = ["MemoryState", "MemoryStateStatistics"]

S = TypeVar("S")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class MemoryStateStatistics:
    """A snapshot of a `MemoryState`.

    Attributes:
        keys: How many records it holds.
        operations: Operations applied since it was created.
    """

    keys: int
    operations: int


class MemoryState:
    """Records in a dict; operations run without awaiting, so each one is atomic.

    Several primitives (or several routers in one process, standing in for workers) can
    share one instance, exactly as processes share a Redis backend.
    """

    __slots__ = ("_operations", "_records")

    def __init__(self) -> None:
        self._records: dict[str, object] = {}
        self._operations = 0

    async def apply(self, key: str, op: Operation[S, R], *, now: float) -> R:
        """Apply ``op`` to the record under ``key`` and return its result."""
        return self.apply_one(key, op, now=now)

    def apply_one(self, key: str, op: Operation[S, R], *, now: float) -> R:
        """`apply` as a plain call (nothing here waits), for the primitives' hot path."""
        records = self._records
        state: S | None = records.get(key)  # type: ignore[assignment]  # op's own record
        new, result = op.apply(state, now)
        if new is None:
            records.pop(key, None)
        else:
            records[key] = new
        self._operations += 1
        return result

    async def apply_many(
        self, ops: Sequence[tuple[str, Operation[Any, Any]]], *, now: float
    ) -> list[Any]:
        """Apply each ``(key, op)`` in turn, without awaiting, and return the results."""
        apply = self.apply_one
        return [apply(key, op, now=now) for key, op in ops]

    def peek(self, key: str) -> object | None:
        """The record under ``key``, or None."""
        return self._records.get(key)

    def statistics(self) -> MemoryStateStatistics:
        """How many records and operations."""
        return MemoryStateStatistics(keys=len(self._records), operations=self._operations)

    def __repr__(self) -> str:
        stats = self.statistics()
        return f"MemoryState(keys={stats.keys}, operations={stats.operations})"

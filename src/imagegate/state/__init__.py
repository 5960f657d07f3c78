"""Where shared state lives: the `StateBackend` interface and its in-memory default.

Rate limits, circuit breakers and the cost ledger keep their state as small frozen
records (``RateLimitState``, ``BreakerRecord``, ``LedgerState``), one per key. Every change
is an `Operation`: a pure function ``apply(record, now) -> (new record, result)``. A backend
only stores records and applies operations atomically, so the *decisions* live in one
place, in Python, and a backend that shares state between processes (Redis) either
runs the same operation in a server-side script or in an optimistic transaction. The
Python ``apply`` is the reference its scripts are tested against.

Before an attempt the router needs three decisions at once (breaker permit, rate limit
booking, budget reservation). The primitives hand each one out as a `Step` (the operation,
its key and backend, and what its result means), and `apply_steps` applies them together:
one `StateBackend.apply_many` per backend, so one round trip to a remote one.

Two rules keep operations portable across processes and time bases:

- Operations carry durations relative to ``now`` (``block_for_s``), never absolute times,
  so a backend may substitute its own shared ``now`` (e.g. the server's clock).
- Records hold only floats, ints, strings and tuples of them, so they serialise as-is.

`MemoryState` is the default: a dict in this process, exact and free. `RedisState`
(``pip install 'imagegate[redis]'``, from a checkout ``pip install -e '.[redis]'``) shares
the records between processes and machines; it imports the redis client when one is
made, so ``import imagegate.state`` never imports redis. It runs the operations whose
primitive registered a codec (`imagegate.state.codec`): this package knows no primitive,
and imports nothing from them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from imagegate.state.memory import MemoryState, MemoryStateStatistics
from imagegate.state.redis import RedisState, RedisStateStatistics

__all__ = [
    "MemoryState",
    "MemoryStateStatistics",
    "Operation",
    "RedisState",
    "RedisStateStatistics",
    "StateBackend",
    "Step",
    "apply_steps",
    "apply_steps_now",
]

S = TypeVar("S")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)
T = TypeVar("T")


class Operation(Protocol[S, R_co]):
    """One atomic read-modify-write step on the record stored under a key.

    Implementations are frozen dataclasses whose fields are the operation's parameters.
    """

    def apply(self, state: S | None, now: float) -> tuple[S | None, R_co]:
        """Compute the new record (None deletes it) and the caller's result.

        Args:
            state: The stored record, or None when the key holds nothing.
            now: The backend's current time in seconds (the injected clock for
                `MemoryState`).
        """
        ...


@runtime_checkable
class StateBackend(Protocol):
    """Stores one record per key and applies `Operation`s to them atomically."""

    async def apply(self, key: str, op: Operation[S, R], *, now: float) -> R:
        """Apply ``op`` to the record under ``key`` atomically and return its result."""
        ...

    async def apply_many(
        self, ops: Sequence[tuple[str, Operation[Any, Any]]], *, now: float
    ) -> list[Any]:
        """Apply each ``(key, op)`` as `apply` would and return the results in order.

        Each operation is atomic on its own, not the batch as a whole: a remote backend
        sends them together (one round trip) and may run them in any order, so the keys
        should be distinct. `MemoryState` applies them in turn.
        """
        ...

    def peek(self, key: str) -> object | None:
        """The latest record this process knows for ``key``, without I/O.

        Exact for `MemoryState`; a remote backend returns the copy it last read or wrote.
        Used for ``statistics()``, ``repr`` and cheap planning checks, never for decisions.
        """
        ...


@dataclass(frozen=True, slots=True)
class Step(Generic[T]):
    """One primitive's operation, ready to be applied together with others.

    ``breaker.acquire_step()``, ``limiter.reserve_step(n, max_wait_s=...)`` and
    ``ledger.reserve_step(estimate, route=...)`` return these; `apply_steps` applies a
    batch of them and hands each result to its ``finish``, which does what the primitive's
    own method does with it (log, count, wrap).

    Attributes:
        backend: Where the record lives.
        key: The record's key in that backend.
        op: The operation to apply to it.
        finish: Turns the operation's raw result into the primitive's answer.
    """

    backend: StateBackend
    key: str
    op: Operation[Any, Any]
    finish: Callable[[Any], T]


def apply_steps_now(steps: Sequence[Step[Any]], *, now: float) -> list[Any] | None:
    """`apply_steps` at once, when every step's backend is a `MemoryState` (nothing
    waits, so there is no round trip's coroutine to pay for); None, with nothing
    applied, when one is not."""
    for step in steps:
        if type(step.backend) is not MemoryState:
            return None
    return [
        step.finish(step.backend.apply_one(step.key, step.op, now=now))  # type: ignore[attr-defined]
        for step in steps
    ]


async def apply_steps(steps: Sequence[Step[Any]], *, now: float) -> list[Any]:
    """Apply ``steps`` with one `StateBackend.apply_many` per backend and return each
    step's finished result, in order.

    Args:
        steps: The steps; each operation is atomic on its own (see `StateBackend.apply_many`).
        now: The clock reading they are applied at (the primitives of one router share a
            clock).
    """
    applied = apply_steps_now(steps, now=now)  # in this process: no round trip to make
    if applied is not None:
        return applied
    first = steps[0].backend
    raw: list[Any]
    ops: list[tuple[str, Operation[Any, Any]]] = []
    for step in steps:
        if step.backend is not first:
            break
        ops.append((step.key, step.op))
    else:  # one backend: one round trip
        raw = await first.apply_many(ops, now=now)
        return [step.finish(result) for step, result in zip(steps, raw, strict=True)]
    # Several backends: one round trip to each.
    raw = [None] * len(steps)
    groups: dict[int, list[int]] = {}
    for index, step in enumerate(steps):
        groups.setdefault(id(step.backend), []).append(index)
    for indexes in groups.values():
        backend = steps[indexes[0]].backend
        ops = [(steps[i].key, steps[i].op) for i in indexes]
        for index, result in zip(indexes, await backend.apply_many(ops, now=now), strict=True):
            raw[index] = result
    return [step.finish(result) for step, result in zip(steps, raw, strict=True)]

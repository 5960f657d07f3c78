"""Where shared state lives: the `StateBackend` interface and its in-memory default.

Rate limits, circuit breakers and the cost ledger keep their state as small frozen
records (``RateLimitState``, ``BreakerRecord``, ``LedgerState``), one per key. Every change
is an `Operation`: a pure function ``apply(record, now) -> (new record, result)``. A backend
only stores records and applies operations atomically, so the *decisions* live in one
place, in Python, and a backend that shares state between processes (Redis, issue 7) either
runs the same operation in a server-side script or in an optimistic transaction. The
Python ``apply`` is the reference its scripts are tested against.

Two rules keep operations portable across processes and time bases:

- Operations carry durations relative to ``now`` (``block_for_s``), never absolute times,
  so a backend may substitute its own shared ``now`` (e.g. the server's clock).
- Records hold only floats, ints, strings and tuples of them, so they serialise as-is.

`MemoryState` is the default: a dict in this process, exact and free. `RedisState`
(``pip install 'imagegate[redis]'``) shares the records between processes and machines;
it is imported on first use, so ``import imagegate.state`` never imports redis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

from imagegate.state.memory import MemoryState, MemoryStateStatistics

if TYPE_CHECKING:
    from imagegate.state.redis import RedisState, RedisStateStatistics

__all__ = [
    "MemoryState",
    "MemoryStateStatistics",
    "Operation",
    "RedisState",
    "RedisStateStatistics",
    "StateBackend",
]

_LAZY = frozenset({"RedisState", "RedisStateStatistics"})


def __getattr__(name: str) -> Any:
    # The Redis backend loads on first use: its module imports the resilience
    # primitives, which import this package, and only it needs the redis client.
    if name in _LAZY:
        from imagegate.state import redis as redis_state

        return getattr(redis_state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


S = TypeVar("S")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


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

    def peek(self, key: str) -> object | None:
        """The latest record this process knows for ``key``, without I/O.

        Exact for `MemoryState`; a remote backend returns the copy it last read or wrote.
        Used for ``statistics()``, ``repr`` and cheap planning checks, never for decisions.
        """
        ...

"""The local side of `RedisState`: the copies it keeps for ``peek``, and the local state
it decides on for keys Redis cannot serve (an outage, or a corrupt record)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from imagegate.state.codec import Codec, RemoteCall
from imagegate.state.memory import MemoryState

__all__ = ["Copy", "LocalState", "Merge"]


@dataclass(frozen=True, slots=True)
class Copy:
    """The latest record of one key this process knows.

    Attributes:
        record: The record, on the caller's clock.
        codec: The codec of its kind.
        read_at: The backend timer's reading when it was read (or written locally).
        offset: The caller's ``now`` minus the server's at that read.
    """

    record: object
    codec: Codec
    read_at: float
    offset: float


@dataclass(frozen=True, slots=True)
class Merge:
    """What one key changed locally, to add to its shared record.

    Attributes:
        key: The key.
        codec: The codec of its kind.
        base: The record the change is measured from.
        call: The call that adds the change.
    """

    key: str
    codec: Codec
    base: object
    call: RemoteCall


@dataclass(frozen=True, slots=True)
class _Seed:
    """Operation: store ``record`` (the last shared copy); None forgets the local record."""

    record: object

    def apply(self, state: object | None, now: float) -> tuple[object, None]:
        return self.record, None


class LocalState:
    """Records decided on in this process, each seeded with the last shared copy, and
    for additive kinds (`Codec.merge_base`) the base their local changes count from."""

    __slots__ = ("_bases", "_memory")

    def __init__(self) -> None:
        self._memory = MemoryState()
        self._bases: dict[str, tuple[Codec, object]] = {}

    async def apply(self, key: str, codec: Codec, op: Any, now: float, copy: Copy | None) -> Any:
        """Apply ``op`` to the local record of ``key``, first seeded from ``copy``."""
        memory = self._memory
        if memory.peek(key) is None:
            seed = copy.record if copy is not None else None
            if seed is not None:
                await memory.apply(key, _Seed(seed), now=now)
            base = codec.merge_base(seed)
            if base is not None:
                self._bases.setdefault(key, (codec, base))
        if copy is not None:
            op = codec.localized(op, memory.peek(key), copy.offset)
        # MemoryState.apply never suspends, so this runs atomically like the remote script.
        return await memory.apply(key, op, now=now)

    def peek(self, key: str) -> object | None:
        """The local record of ``key``, or None."""
        return self._memory.peek(key)

    def merges(self, ttl_s: float) -> list[Merge]:
        """Per key changed since its base, the call that adds the change; each base moves
        to the current local record (`restore` puts back those not merged)."""
        pending = []
        for key, (codec, base) in list(self._bases.items()):
            local = self._memory.peek(key)
            call = codec.merge(base, local, ttl_s)
            if call is None or local is None:
                continue
            pending.append(Merge(key, codec, base, call))
            self._bases[key] = (codec, local)
        return pending

    def restore(self, merges: Sequence[Merge]) -> None:
        """Put back the bases of ``merges`` (they did not reach Redis)."""
        for merge in merges:
            self._bases[merge.key] = (merge.codec, merge.base)

    async def forget(self, key: str, ttl_s: float) -> RemoteCall | None:
        """Drop the local record of ``key`` (Redis serves it again) and return the call
        that adds its local change to the shared record, if there is one."""
        entry = self._bases.pop(key, None)
        local = self._memory.peek(key)
        await self._memory.apply(key, _Seed(None), now=0.0)
        if entry is None:
            return None
        codec, base = entry
        return codec.merge(base, local, ttl_s)

    def clear(self) -> None:
        """Drop every local record and base (Redis is authoritative again)."""
        self._memory = MemoryState()
        self._bases.clear()

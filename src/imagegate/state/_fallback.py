"""`Fallback`: how `RedisState` decides while Redis cannot serve a key, and how it comes
back.

An operation Redis cannot run — Redis does not answer, or the key's record is corrupt —
runs on `LocalState`, seeded with the last copy this process saw. While degraded, Redis
is tried again every ``retry_interval_s``; when it answers, what the additive records
(the ledger) changed locally is added to the shared ones (`Codec.merge`) and every local
record is dropped: the shared records are authoritative again. A corrupt key is shared
again as soon as Redis answers for it, with its local change added the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from imagegate.state._local import Copy, LocalState
from imagegate.state._outage import Outage
from imagegate.state._transport import CORRUPT, REFUSED, Transport, script_error
from imagegate.state.codec import Codec

__all__ = ["Fallback"]


class Fallback:
    """The local path of one `RedisState` and its way back to Redis.

    Args:
        transport: How to reach Redis.
        outage: Its degraded mode and corrupt keys.
        copies: The records `RedisState.peek` answers, by key (shared with it).
        errors: The errors that mean Redis did not answer.
        ttl_s: The backend's ``ttl_s`` (see `imagegate.state.codec.Encoder`).
        timer: Real monotonic seconds.
    """

    __slots__ = (
        "_copies",
        "_errors",
        "_local",
        "_outage",
        "_timer",
        "_transport",
        "_ttl_s",
        "operations",
    )

    def __init__(
        self,
        transport: Transport,
        outage: Outage,
        copies: dict[str, Copy],
        *,
        errors: tuple[type[BaseException], ...],
        ttl_s: float,
        timer: Callable[[], float],
    ) -> None:
        self._transport = transport
        self._outage = outage
        self._copies = copies
        self._errors = errors
        self._ttl_s = ttl_s
        self._timer = timer
        self._local = LocalState()
        self.operations = 0  # applied locally

    def peek(self, key: str) -> object | None:
        """The local record of ``key``, or None."""
        return self._local.peek(key)

    async def back(self) -> bool:
        """While degraded: whether Redis is back, tried again only once a retry is due
        (`recover`)."""
        return self._outage.retry_due() and await self.recover()

    async def apply(self, key: str, codec: Codec, op: Any, now: float) -> Any:
        """Apply ``op`` on local state and keep the local record as the key's copy."""
        result = await self._local.apply(key, codec, op, now, self._copies.get(key))
        self.operations += 1
        record = self._local.peek(key)
        if record is not None:
            copy = self._copies.get(key)
            offset = copy.offset if copy is not None else 0.0
            self._copies[key] = Copy(record, codec, self._timer(), offset)
        return result

    async def failed(self, key: str, codec: Codec, op: Any, exc: BaseException, now: float) -> Any:
        """A script's error: a corrupt record affects its key only, a refused argument is
        the caller's bug (`ValueError`), anything else means Redis is unreachable."""
        if script_error(exc, REFUSED):
            raise ValueError(f"Redis refused the operation: {exc}") from exc
        if script_error(exc, CORRUPT):
            self._outage.corrupted(key, self._transport.key(key), exc)
        else:
            self._outage.failed(exc)
        return await self.apply(key, codec, op, now)

    async def repaired(self, key: str) -> None:
        """Redis ran an operation on ``key``, which was corrupt: it is shared again, and
        what it changed locally meanwhile is added to the shared record."""
        rkey = self._transport.key(key)
        self._outage.repaired(key, rkey)
        merge = await self._local.forget(key, self._ttl_s)
        if merge is None:
            return
        try:
            await self._transport.run(key, merge, 0.0)
        except self._errors as exc:
            self._outage.merge_lost(rkey, exc)

    async def recover(self) -> bool:
        """Try Redis again: add the local changes to the shared records, then switch
        back. False (still degraded) when Redis does not answer."""
        self._outage.recovering = True
        try:
            await self._transport.client.ping()
            await self._merge_local()
        except self._errors as exc:
            self._outage.failed(exc)
            return False
        finally:
            self._outage.recovering = False
        self._local.clear()
        self._outage.recovered()
        return True

    async def _merge_local(self) -> None:
        """Add every local change to its shared record. Changes made while a merge is in
        flight are merged on the next pass, so the switch back happens with nothing left
        to merge, without awaiting. A merge that did not happen keeps its base."""
        while merges := self._local.merges(self._ttl_s):
            for index, merge in enumerate(merges):
                try:
                    await self._transport.run(merge.key, merge.call, 0.0)
                except self._errors as exc:
                    if not script_error(exc, CORRUPT):
                        self._local.restore(merges[index:])
                        raise
                    # Nothing sound to add to: that key alone stays local; the rest recovers.
                    self._outage.corrupted(merge.key, self._transport.key(merge.key), exc)
                except BaseException:
                    self._local.restore(merges[index:])
                    raise

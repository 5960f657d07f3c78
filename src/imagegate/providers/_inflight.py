"""A byte budget for what an adapter has in flight: calls wait, in order, until their
bytes fit.

google-genai holds about 2.7 copies of a call's inline input images while the call is in
flight (a base64 string of each in its request dict, then the JSON body), so sixteen
concurrent 16 MB edits would hold ~700 MB beyond the images themselves. The Gemini and
Vertex adapters hold each call's inline bytes here first: past the budget, calls queue
(first come, first served) instead of multiplying memory. A call larger than the whole
budget runs alone. The wait counts against the attempt's timeout like any other part of
the call.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Final

__all__ = ["DEFAULT_INLINE_BYTES_IN_FLIGHT", "BytesInFlight"]

DEFAULT_INLINE_BYTES_IN_FLIGHT: Final = 64 * 1024 * 1024
"""Input image bytes one Gemini or Vertex adapter sends inline at once (64 MiB)."""


class BytesInFlight:
    """A first-come, first-served semaphore counted in bytes.

    Args:
        budget: Bytes that may be held at once (a larger single hold runs alone).
    """

    __slots__ = ("_budget", "_used", "_waiters")

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._used = 0
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

    @property
    def used(self) -> int:
        """Bytes held now."""
        return self._used

    def _fits(self, size: int) -> bool:
        return self._used == 0 or self._used + size <= self._budget

    @asynccontextmanager
    async def hold(self, size: int) -> AsyncIterator[None]:
        """Hold ``size`` bytes for the block, waiting until they fit (nothing for 0)."""
        if size <= 0:
            yield
            return
        if not self._waiters and self._fits(size):
            self._used += size
        else:
            await self._wait(size)
        try:
            yield
        finally:
            self._used -= size
            self._wake()

    async def _wait(self, size: int) -> None:
        granted = asyncio.get_running_loop().create_future()
        entry = (size, granted)
        self._waiters.append(entry)
        try:
            await granted
        except BaseException:
            if granted.done() and not granted.cancelled():
                self._used -= size  # granted as it was cancelled: hand it back
                self._wake()
            else:
                self._waiters.remove(entry)
                self._wake()  # the waiters behind it may fit now
            raise

    def _wake(self) -> None:
        while self._waiters and self._fits(self._waiters[0][0]):
            size, granted = self._waiters.popleft()
            if granted.done():
                continue
            self._used += size
            granted.set_result(None)

    def __repr__(self) -> str:
        return (
            f"BytesInFlight(used={self._used:,}, budget={self._budget:,}, "
            f"waiting={len(self._waiters)})"
        )

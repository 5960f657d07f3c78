"""LiteLLM's router host on the run's clock, and, on virtual time, its timers too.

LiteLLM's router core reaches outside itself only through a host (LiteLLM 1.110's "Core,
config and host interfaces"): every provider call (``invoke``), every backoff sleep
(``sleep``, ``sleep_sync``), the routing cache. `ClockHost` is LiteLLM's own host with
its sleeps on the run's clock, so a backoff of ``s`` seconds (``Retry-After`` included)
lasts ``s`` simulated seconds.

On a wall clock scaled by the time scale, that is all: LiteLLM's call timeout and
cooldown are configured in real seconds (their clock seconds times the scale). On
virtual time no real duration stands for a simulated one, so the host also puts
LiteLLM's other timers on the run's clock:

- the call timeout: LiteLLM runs Gemini and Vertex calls as blocking HTTP in threads,
  whose socket timeout is real seconds and so never fires against a simulator that
  answers in virtual seconds. `ClockHost` gives every image call the timeout on the
  run's clock and raises LiteLLM's own ``Timeout`` when it expires, which LiteLLM
  retries and falls back on like the one its HTTP client raises;
- the routing cache (failures per minute, which decide cooldowns): an in-memory cache
  whose expiry reads the run's clock (``InMemoryCache(clock=...)``, a LiteLLM option);
- not the cooldowns: LiteLLM keeps them in a native store on the wall clock, which no
  public option of LiteLLM's puts on another clock. The contender configures them in real
  seconds at LiteLLM's nominal time scale (`imagegate.bench._litellm.VIRTUAL_COOLDOWN_SCALE`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from imagegate.bench._deps import import_optional, quiet_litellm
from imagegate.resilience.clock import Clock, move_on_after

__all__ = ["ClockHost"]


def _litellm_module(name: str) -> Any:
    quiet_litellm()
    return import_optional(f"litellm.{name}", purpose="the litellm contender")


class ClockHost:
    """LiteLLM's router host with its sleeps on the run's clock; it counts the image calls.

    Each ``aimage_generation`` it runs is one upstream attempt, counted in `image_calls`.

    Args:
        inner: The host everything else is delegated to (LiteLLM's ``python_host``).
        clock: The run's clock.
        time_scale: Real seconds per clock second, for ``sleep_sync`` (a blocking sleep
            cannot wait on an async clock).
        call_timeout_s: On virtual time, each image call's timeout in clock seconds
            (None: LiteLLM's own, in real seconds).
        clocked_cache: On virtual time, keep the routing cache on the run's clock.
    """

    __slots__ = (
        "_call_timeout_s",
        "_clock",
        "_clocked_cache",
        "_inner",
        "_time_scale",
        "image_calls",
    )

    def __init__(
        self,
        inner: Any,
        clock: Clock,
        *,
        time_scale: float,
        call_timeout_s: float | None = None,
        clocked_cache: bool = False,
    ) -> None:
        self._inner = inner
        self._clock = clock
        self._time_scale = time_scale
        self._call_timeout_s = call_timeout_s
        self._clocked_cache = clocked_cache
        self.image_calls = 0

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of the run's clock."""
        await self._clock.sleep(seconds)

    def sleep_sync(self, seconds: float) -> None:
        """Block for ``seconds`` clock seconds (a sync endpoint's backoff)."""
        self._inner.sleep_sync(seconds * self._time_scale)

    def invoke(self, op: str) -> Callable[..., object]:
        """LiteLLM's endpoint ``op``, counting the image calls (timed on the clock on
        virtual time)."""
        endpoint: Callable[..., object] = self._inner.invoke(op)
        if op != "aimage_generation":
            return endpoint
        self.image_calls += 1
        if self._call_timeout_s is None:
            return endpoint
        return _timed(endpoint, self._clock, self._call_timeout_s)

    def routing_cache(self, config: Any) -> Any:
        """LiteLLM's routing cache; on virtual time, in memory on the run's clock."""
        if not self._clocked_cache:
            return self._inner.routing_cache(config)
        caching = _litellm_module("caching.caching")
        memory = caching.InMemoryCache(clock=self._clock.now)
        return caching.DualCache(redis_cache=None, in_memory_cache=memory)

    def __getattr__(self, name: str) -> Any:
        # Settings, callbacks and caches: whatever the core asks of LiteLLM's own host.
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __repr__(self) -> str:
        return f"ClockHost(clock={self._clock!r}, image_calls={self.image_calls})"


def _timed(
    endpoint: Callable[..., object], clock: Clock, timeout_s: float
) -> Callable[..., Awaitable[object]]:
    async def call(*args: Any, **kwargs: Any) -> object:
        async with move_on_after(clock, timeout_s):
            return await cast(Awaitable[object], endpoint(*args, **kwargs))
        exceptions = _litellm_module("exceptions")
        model = str(kwargs.get("model", ""))
        raise exceptions.Timeout(
            message=f"timed out after {timeout_s:g} s",
            model=model,
            llm_provider=model.partition("/")[0],
        )

    return call

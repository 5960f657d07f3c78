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
- the cooldowns: LiteLLM keeps them in a native store on the wall clock; `ClockCooldowns`
  is the same store in Python on the run's clock, installed with LiteLLM's documented
  rebinding of the router's cooldown cache.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Final, cast

from imagegate.bench._deps import import_optional, quiet_litellm
from imagegate.resilience.clock import Clock, move_on_after

__all__ = ["ClockCooldowns", "ClockHost", "install_clock_cooldowns", "seed_litellm"]

_RANDOM_USERS: Final = ("router_strategy.simple_shuffle", "utils")
"""LiteLLM's modules whose ``random`` draws a router's choices: the shuffle of
deployments, and the jitter of ``calculate_retry_after``."""


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


class ClockCooldowns:
    """LiteLLM's cooldown store (its ``RouterCooldowns`` protocol) in memory, on a clock.

    Entries and allowed-failure counters expire after their TTL in ``clock`` seconds.
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._entries: dict[str, tuple[Mapping[str, Any], float]] = {}
        self._fails: dict[tuple[str, str | None], tuple[int, float]] = {}

    @property
    def has_redis(self) -> bool:
        """Never: this store is local."""
        return False

    def attach_redis(self, redis: Any) -> None:
        """Ignored: this store is local."""

    def flush_local_counters(self) -> None:
        """Forget the allowed-failure counters."""
        self._fails.clear()

    def put(self, model_id: str, value: Mapping[str, Any], ttl: float) -> None:
        """Cool ``model_id`` down for ``ttl`` clock seconds."""
        self._entries[model_id] = (value, self._clock.now() + ttl)

    def increment_allowed_fails(self, model_id: str, suffix: str | None, ttl: float) -> int:
        """Count one failure in a window of ``ttl`` seconds opened by the first; the count."""
        now = self._clock.now()
        count, expiry = self._fails.get((model_id, suffix), (0, now + ttl))
        if expiry <= now:
            count, expiry = 0, now + ttl
        self._fails[(model_id, suffix)] = (count + 1, expiry)
        return count + 1

    async def async_put(self, model_id: str, value: Mapping[str, Any], ttl: float) -> None:
        """`put`."""
        self.put(model_id, value, ttl)

    async def async_increment_allowed_fails(
        self, model_id: str, suffix: str | None, ttl: float
    ) -> int:
        """`increment_allowed_fails`."""
        return self.increment_allowed_fails(model_id, suffix, ttl)

    def active(self, model_ids: Sequence[str], *, batch: Any) -> Any:
        """`active_sync`, as an answer LiteLLM awaits without yielding."""
        return _litellm_module("redis.stores._route").ready(self.active_sync(model_ids))

    def active_sync(self, model_ids: Sequence[str]) -> tuple[tuple[str, Mapping[str, Any]], ...]:
        """The cooldowns in force among ``model_ids``."""
        now = self._clock.now()
        found = ((m, self._entries.get(m)) for m in model_ids)
        return tuple((m, e[0]) for m, e in found if e is not None and e[1] > now)

    def minimum(self, model_ids: Sequence[str], default: float) -> float:
        """The shortest cooldown time in force among ``model_ids``, else ``default``."""
        times = [float(v.get("cooldown_time", default)) for _, v in self.active_sync(model_ids)]
        return min(times, default=default)

    def evict_local(self, model_id: str) -> None:
        """End ``model_id``'s cooldown."""
        self._entries.pop(model_id, None)

    def snapshot(self) -> dict[str, Mapping[str, Any]]:
        """Every cooldown in force."""
        return dict(self.active_sync(list(self._entries)))


def install_clock_cooldowns(router: Any, clock: Clock, cooldown_s: float) -> None:
    """Rebind ``router``'s cooldown cache to a `ClockCooldowns` store on ``clock``."""
    cooldown_cache = _litellm_module("router_utils.cooldown_cache")
    router._core_cooldown_cache = cooldown_cache.CooldownCache(
        store=ClockCooldowns(clock), default_cooldown_time=cooldown_s, clock=clock.now
    )


def seed_litellm(seed: int) -> Callable[[], None]:
    """Give LiteLLM's router choices their own ``random.Random(seed)``; returns the undo.

    LiteLLM draws them from the process-wide ``random``, which other code also draws from
    (a first call's set-up, threads) in an order a run does not control, so seeding the
    global generator does not make two runs choose alike. Each module in `_RANDOM_USERS`
    gets a generator of its own, seeded from the run seed.
    """
    undo: list[tuple[Any, Any]] = []
    for index, name in enumerate(_RANDOM_USERS):
        module = _litellm_module(name)
        undo.append((module, module.random))
        module.random = random.Random(f"{seed}:{index}")

    def restore() -> None:
        for module, original in undo:
            module.random = original

    return restore

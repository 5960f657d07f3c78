"""LiteLLM's Router as a contender, configured as close to imagegate's as it can express.

Configuration (the same deployments, fallbacks and retries as imagegate's route set)::

    model group "img-4K"  gemini/gemini-3-pro-image                (AI Studio, imageConfig 4K)
                          openai/google/gemini-3-pro-image         (aggregator, size 4096x4096)
                          vertex_ai/gemini-3-pro-image             (Vertex AI, imageConfig 4K)
    model group "img-2K"  the same three at 2K
    model group "img-1K"  the same three at 1K
    model group "img-backup"  openai/gpt-image-1.5 (1024x1024, medium quality)
                              [+ black_forest_labs/flux-pro-1.1-ultra, live only]

    fallbacks   img-4K → img-2K → img-1K → img-backup
    num_retries 2            (3 attempts per group, like imagegate's 3 per option)
    timeout     180 s per call (field notes §5.2's value; the deadline still applies)
    routing     simple-shuffle (LiteLLM's default: a random healthy deployment per try)
    cooldowns   LiteLLM's defaults (a deployment with > 50% failures in the current
                minute, or a 429, rests for cooldown_time = 5 s)

Against the simulator, AI Studio is reached with ``api_base=<sim>/gemini/v1beta`` (LiteLLM
appends ``/models/{model}:generateContent`` without a version), the aggregator with
``api_base=<sim>/openai_compatible/v1`` (OpenAI's images API), Vertex AI with the full
``…:generateContent`` URL as ``api_base`` and the bearer token in ``extra_headers``.

Time: LiteLLM sleeps in real seconds (its backoff, any ``Retry-After``, and the OpenAI
SDK's own retries under it) and times its cooldowns by the wall clock. The contender
scales what can be scaled — its retry sleeps (a subclass multiplies
`Router._time_to_sleep_before_retry` by the time scale), the SDK's retry sleeps, its call
timeout and its cooldown time — so they last the same *simulated* seconds as they would in
real time. Its failure counters stay per wall-clock minute, which at LiteLLM's time scale
(0.02 by default, see `imagegate.bench._runner.DEFAULT_TIME_SCALE_FLOOR`) spans 3,000
simulated seconds: LiteLLM judges a deployment over most of a run, not the last minute.

What it cannot express (see docs/benchmarks.md): a per-tier attempt order across
platforms (deployments in a group are shuffled), hedging, a deadline shared by retries
and fallbacks, and Flux against the simulator (LiteLLM only polls https URLs on bfl.ai).
A 200 answer without an image is a success to LiteLLM, so it neither retries nor falls
back. LiteLLM 1.106 also returns Gemini 3's "thought" draft image first; the benchmark
counts the largest image of the answer, which is the real one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import random
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import anyio
import anyio.to_thread

from imagegate._request import Size, pixels_for
from imagegate._result import GeneratedImage
from imagegate.bench._contenders import Delivery
from imagegate.bench._deps import quiet_litellm
from imagegate.bench._setup import BenchEnv, BenchRequest, Endpoint, RouteSpec, ladder

__all__ = ["CALL_TIMEOUT_S", "COOLDOWN_S", "LiteLLMContender", "litellm_config"]

COOLDOWN_S: Final = 5.0
"""LiteLLM's default cooldown (``DEFAULT_COOLDOWN_TIME_SECONDS``), in clock seconds."""

CALL_TIMEOUT_S: Final = 180.0
"""LiteLLM's per-call timeout, in clock seconds: field notes §5.2's value. LiteLLM has no
deadline shared by retries and fallbacks and no hedge, so without one a single hung 4K call
would use the whole request deadline."""

_NUM_RETRIES: Final = 2
_DROPPED: Final = r"coroutine '.*\.aimage_generation' was never awaited"
_BACKUP_GROUP: Final = "img-backup"


def _group(size: Size) -> str:
    return f"img-{size}"


def _deployment(
    spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str, *, live: bool
) -> dict[str, Any] | None:
    """One LiteLLM deployment for ``spec`` at ``size``, or None when LiteLLM cannot reach it."""
    width, height = pixels_for(size, aspect_ratio)
    image_config = {"aspectRatio": aspect_ratio, "imageSize": size}
    params: dict[str, Any]
    if spec.provider == "gemini":
        params = {"model": f"gemini/{spec.model}", "imageConfig": image_config}
        if endpoint.base_url:
            params["api_base"] = endpoint.base_url.rstrip("/") + "/v1beta"
        if endpoint.api_key:
            params["api_key"] = endpoint.api_key
    elif spec.provider == "vertex":
        params = {"model": f"vertex_ai/{spec.model}", "imageConfig": image_config}
        project, location = endpoint.project, endpoint.location or "global"
        if endpoint.base_url:
            params["api_base"] = (
                f"{endpoint.base_url.rstrip('/')}/v1beta1/projects/{project}/locations/"
                f"{location}/publishers/google/models/{spec.model}:generateContent"
            )
            if endpoint.api_key:
                params["extra_headers"] = {"Authorization": f"Bearer {endpoint.api_key}"}
        else:
            params["vertex_project"] = project
            params["vertex_location"] = location
    elif spec.provider in ("openai", "openai_compatible"):
        params = {"model": f"openai/{spec.model}", "size": f"{width}x{height}", **spec.options}
        if endpoint.base_url:
            params["api_base"] = endpoint.base_url
        if endpoint.api_key:
            params["api_key"] = endpoint.api_key
    elif spec.provider == "flux" and live:
        # LiteLLM polls only https URLs on bfl.ai: it works live, never on the simulator.
        params = {"model": f"black_forest_labs/{spec.model}", "aspect_ratio": aspect_ratio}
        if endpoint.api_key:
            params["api_key"] = endpoint.api_key
    else:
        return None
    return params


def litellm_config(
    env: BenchEnv, size: Size, aspect_ratio: str = "1:1"
) -> tuple[list[dict[str, Any]], list[dict[str, list[str]]], list[str]]:
    """The model list and fallbacks for requests at ``size``, and what was left out.

    Returns:
        ``(model_list, fallbacks, skipped)``: LiteLLM's ``model_list``, its ``fallbacks``
        (the tier groups from ``size`` down, then the backup group), and the routes
        LiteLLM cannot reach (by name).
    """
    model_list: list[dict[str, Any]] = []
    skipped: list[str] = []
    groups: list[str] = []
    tiers = ladder(size)
    for tier in tiers:
        group = _group(tier)
        for spec in env.routes:
            if spec.backup or tier not in spec.tiers:
                continue
            params = _deployment(
                spec, env.endpoint(spec.provider), tier, aspect_ratio, live=env.live
            )
            if params is None:
                skipped.append(f"{spec.name}@{tier}")
                continue
            model_list.append({"model_name": group, "litellm_params": params})
        if any(d["model_name"] == group for d in model_list):
            groups.append(group)
    for spec in env.routes:
        if not spec.backup:
            continue
        backup_tier: Size | None = next((t for t in tiers if t in spec.tiers), None)
        params = (
            None
            if backup_tier is None
            else _deployment(
                spec, env.endpoint(spec.provider), backup_tier, aspect_ratio, live=env.live
            )
        )
        if params is None:
            skipped.append(spec.name)
            continue
        model_list.append({"model_name": _BACKUP_GROUP, "litellm_params": params})
    if any(d["model_name"] == _BACKUP_GROUP for d in model_list):
        groups.append(_BACKUP_GROUP)
    fallbacks = [{groups[0]: groups[1:]}] if len(groups) > 1 else []
    return model_list, fallbacks, skipped


def _scale_openai_sdk_retries(scale: float) -> Callable[[], None]:
    """Make the OpenAI SDK's retry sleeps last ``scale`` times as long; returns the undo.

    LiteLLM 1.106 builds its OpenAI image clients with ``max_retries=2`` whatever the
    deployment says, so every ``openai/`` call may be retried twice by the SDK itself,
    sleeping in real seconds (``Retry-After``, else 0.5–8 s). Those retries stay — a LiteLLM
    user gets them — but their sleeps are put on the run's clock. imagegate's own OpenAI
    adapters never retry (``max_retries=0``), so they are not affected.
    """
    from openai import _base_client

    client_class: Any = _base_client.AsyncAPIClient
    original = client_class._calculate_retry_timeout

    def scaled(self: Any, *args: Any, **kwargs: Any) -> float:
        return float(original(self, *args, **kwargs)) * scale

    client_class._calculate_retry_timeout = scaled

    def restore() -> None:
        client_class._calculate_retry_timeout = original

    return restore


class LiteLLMContender:
    """LiteLLM's Router over the route set (configuration in the module docstring)."""

    __slots__ = ("_env", "_executor", "_restore", "_routers", "name", "skipped")

    def __init__(self) -> None:
        self.name = "litellm"
        self._env: BenchEnv | None = None
        self._routers: dict[tuple[Size, str], Any] = {}
        self._restore: Callable[[], None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self.skipped: list[str] = []

    async def open(self, env: BenchEnv) -> None:
        """Import LiteLLM (quietly, offline), scale the SDK retry sleeps, widen the event
        loop's default executor, and build the router for the run's tier and ratio
        (building one takes LiteLLM a while; others are built when first asked for)."""
        quiet_litellm()
        self._env = env
        # A call cancelled (at the deadline) while LiteLLM waits on its thread makes the
        # thread's result, an OpenAI image coroutine, be dropped un-awaited: LiteLLM's
        # doing, harmless, and not worth a warning per request in the benchmark's output.
        warnings.filterwarnings("ignore", message=_DROPPED, category=RuntimeWarning)
        # LiteLLM 1.106 runs Gemini and Vertex image calls as *blocking* HTTP in the
        # loop's default executor (min(32, CPUs + 4) threads: 6 on a 2-core machine),
        # which would cap it at 6 calls in flight. Give it a thread per call it can have.
        self._executor = ThreadPoolExecutor(max_workers=max(32, 4 * env.concurrency))
        asyncio.get_running_loop().set_default_executor(self._executor)
        if env.time_scale != 1.0:
            self._restore = _scale_openai_sdk_retries(env.time_scale)
        # LiteLLM shuffles deployments with the global `random`; seed it for repeatability.
        random.seed(env.seed)
        self._router(env.size, env.aspect_ratio)

    def _router(self, size: Size, aspect_ratio: str) -> Any:
        key = (size, aspect_ratio)
        router = self._routers.get(key)
        if router is not None:
            return router
        env = self._env
        assert env is not None, "open() first"
        litellm = quiet_litellm()
        scale = env.time_scale

        class ScaledRouter(litellm.Router):  # type: ignore[misc, name-defined]
            """LiteLLM's Router with its retry sleeps in clock seconds."""

            def _time_to_sleep_before_retry(self, *args: Any, **kwargs: Any) -> float:
                return float(super()._time_to_sleep_before_retry(*args, **kwargs)) * scale

        model_list, fallbacks, skipped = litellm_config(env, size, aspect_ratio)
        self.skipped = sorted(set(self.skipped) | set(skipped))
        router = ScaledRouter(
            model_list=model_list,
            fallbacks=fallbacks,
            num_retries=_NUM_RETRIES,
            timeout=min(CALL_TIMEOUT_S, env.deadline_s) * scale,
            cooldown_time=COOLDOWN_S * scale,
        )
        self._routers[key] = router
        return router

    async def generate(self, request: BenchRequest) -> Delivery:
        """``router.aimage_generation`` on the group of the requested tier.

        Raises:
            Exception: whatever LiteLLM raises, or `ValueError` for an answer that
                carries no usable image.
        """
        router = self._router(request.size, request.aspect_ratio)
        response = await router.aimage_generation(model=_group(request.size), prompt=request.prompt)
        images: list[GeneratedImage] = []
        for item in getattr(response, "data", None) or []:
            data = getattr(item, "b64_json", None)
            if not data:
                continue
            try:
                images.append(GeneratedImage(base64.b64decode(data)))
            except (ValueError, binascii.Error):
                continue
        if not images:
            raise ValueError("LiteLLM returned an answer without an image")
        hidden = getattr(response, "_hidden_params", None) or {}
        route = str(hidden.get("model") or hidden.get("custom_llm_provider") or "litellm")
        return Delivery(max(images, key=lambda i: i.width * i.height), route)

    def calls_made(self) -> int:
        """Calls LiteLLM's routers counted (``Router.total_calls``)."""
        return sum(sum(r.total_calls.values()) for r in self._routers.values())

    async def aclose(self) -> None:
        """Wait for LiteLLM's blocking calls to end, then close its HTTP clients.

        A Gemini or Vertex call cancelled at the deadline keeps running in its thread until
        LiteLLM's own timeout; the executor is drained (in another thread) so that no
        socket outlives the run. LiteLLM caches its clients per process, sync and async;
        both kinds are closed and the cache emptied (a later run may be on another loop).
        """
        self._routers.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            await anyio.to_thread.run_sync(executor.shutdown, True)
            for _ in range(5):  # let the loop run the callbacks of the last threads
                await asyncio.sleep(0)
            gc.collect()
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
        if self._restore is not None:
            self._restore()
            self._restore = None
        if self._env is not None:
            litellm = quiet_litellm()
            await litellm.close_litellm_async_clients()
            cache = litellm.in_memory_llm_clients_cache
            for client in list(getattr(cache, "cache_dict", {}).values()):
                close = getattr(client, "close", None)
                if close is not None and not asyncio.iscoroutinefunction(close):
                    with contextlib.suppress(Exception):
                        close()
            cache.flush_cache()
            self._env = None

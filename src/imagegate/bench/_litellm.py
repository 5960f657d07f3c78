"""LiteLLM's Router as a contender, configured as close to imagegate's as it can express.

Configuration (the same deployments, fallbacks and retries as imagegate's route set)::

    model group "img-4K"  gemini/gemini-3-pro-image                (AI Studio, imageConfig 4K)
                          openrouter/google/gemini-3-pro-image     (aggregator, image_config 4K)
                          vertex_ai/gemini-3-pro-image             (Vertex AI, imageConfig 4K)
    model group "img-2K"  the same three at 2K
    model group "img-1K"  the same three at 1K
    model group "img-backup"  openai/gpt-image-1.5 (1024x1024, medium quality)
                              [+ black_forest_labs/flux-pro-1.1-ultra, live only]

    fallbacks   img-4K → img-2K → img-1K → img-backup
    num_retries 2            (3 attempts per group, like imagegate's 3 per option)
    timeout     180 s per call (the waterfall-retry loop's value; the deadline still applies)
    routing     simple-shuffle (LiteLLM's default: a random healthy deployment per try)
    cooldowns   LiteLLM's defaults (a deployment with > 50% failures in the current
                minute, or a 429, rests for cooldown_time = 5 s)

Each deployment's ``model_info.id`` is ``"<provider>/<model>@<tier>"``, so the answer's
``hidden_params["model_id"]`` names the route that delivered. Against the simulator, AI
Studio is reached with ``api_base=<sim>/gemini/v1beta`` (LiteLLM appends
``/models/{model}:generateContent`` without a version), the aggregator with
``api_base=<sim>/openai_compatible/v1`` through LiteLLM's ``openrouter/`` provider (chat
completions with ``image_config``, the path OpenRouter documents; it has no OpenAI-style
``/images/generations``), Vertex AI with the full
``…:generateContent`` URL as ``api_base`` and the bearer token in ``extra_headers``.

The router is built with ``Router.from_config(config, host=ClockHost(...))``: LiteLLM's
router core reaches outside itself only through its host, which runs every provider call
and every backoff sleep. `ClockHost` is LiteLLM's own host with one change, its sleeps
(the backoff and any ``Retry-After``) last their seconds on the run's clock, so they last
the same *simulated* seconds as they would in real time. On virtual time (the default)
the host also puts the call timeout and the failures-per-minute counters on the run's
clock (see `imagegate.bench._litellm_host`), so they mean what they say in simulated
seconds; the cooldowns, which LiteLLM keeps on the wall clock, are configured at
`VIRTUAL_COOLDOWN_SCALE`. On a scaled wall clock (``--time-scale``) the
call timeout and the cooldown time are configured as their clock seconds times the time
scale, and the failure counters stay per wall-clock minute, which at LiteLLM's time
scale (0.02 by default, see `imagegate.bench._config.DEFAULT_TIME_SCALE_FLOOR`) spans
3,000 simulated seconds. The OpenAI SDK under the ``openai/`` deployments does not retry
on its own: LiteLLM calls it with ``max_retries=0`` for router calls, so every upstream
attempt is one of the router's.

What it cannot express (see docs/benchmarks.md): a per-tier attempt order across
platforms (deployments in a group are shuffled), hedging, a deadline shared by retries
and fallbacks, and Flux against the simulator (LiteLLM only polls https URLs on bfl.ai).
A 200 answer without an image is a success to LiteLLM, so it neither retries nor falls
back. LiteLLM 1.110 also returns Gemini 3's "thought" draft image first; the benchmark
counts the largest image of the answer, which is the real one.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import gc
import random
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

import anyio
import anyio.to_thread

from imagegate._request import Size, parse_aspect_ratio, pixels_for
from imagegate._result import GeneratedImage
from imagegate.bench._config import DEFAULT_TIME_SCALE_FLOOR
from imagegate.bench._contenders import Delivery
from imagegate.bench._deps import import_optional, quiet_litellm
from imagegate.bench._keeping_executor import KeepingExecutor
from imagegate.bench._litellm_host import ClockHost
from imagegate.bench._setup import BenchEnv, BenchRequest, Endpoint, RouteSpec, ladder

__all__ = ["CALL_TIMEOUT_S", "COOLDOWN_S", "ClockHost", "LiteLLMContender", "litellm_config"]

COOLDOWN_S: Final = 5.0
"""LiteLLM's default cooldown (``DEFAULT_COOLDOWN_TIME_SECONDS``), in clock seconds."""

VIRTUAL_COOLDOWN_SCALE: Final = DEFAULT_TIME_SCALE_FLOOR["litellm"]
"""Real seconds per simulated second for LiteLLM's cooldowns on virtual time: they are kept
by LiteLLM on the wall clock, and on virtual time the wall clock runs at the speed of the
CPU work, about this fast for LiteLLM (its CPU time per call, ~20 ms, per simulated second
of a busy run). An approximation, stated in docs/benchmarks.md."""

CALL_TIMEOUT_S: Final = 180.0
"""LiteLLM's per-call timeout, in clock seconds: the waterfall-retry loop's. LiteLLM has no
deadline shared by retries and fallbacks and no hedge, so without one a single hung 4K call
would use the whole request deadline."""

_NUM_RETRIES: Final = 2
_BACKUP_GROUP: Final = "img-backup"

_Params = dict[str, Any]
"""One deployment's ``litellm_params``."""


def _group(size: Size) -> str:
    return f"img-{size}"


def _deployment_id(spec: RouteSpec, tier: Size) -> str:
    """The deployment's ``model_info.id``: the route's name, then the tier it is asked for."""
    return f"{spec.name}@{tier}"


def _litellm_module(name: str) -> Any:
    """``litellm.<name>``, imported offline and quiet."""
    quiet_litellm()
    return import_optional(f"litellm.{name}", purpose="the litellm contender")


SYNC_CLIENT_PARAMS: Final[Mapping[str, Any]] = {"ssl_verify": None}
"""The parameters LiteLLM's image handler asks its client cache for a blocking HTTP client
with (``get_httpx_client(params={"ssl_verify": litellm_params.get("ssl_verify")})``; no
deployment here sets ``ssl_verify``)."""


def _share_sync_client() -> None:
    """Build, in the loop's thread, the blocking HTTP client LiteLLM's threads will ask for.

    LiteLLM 1.110 looks a client up in its cache and stores a new one in two steps that
    are not atomic, so threads that make their first Gemini or Vertex call together each
    build a client, and every one but the last stored is dropped with its connection open
    (a `ResourceWarning` at a random later collection). Built once first, it is the one
    every thread finds; it is in the cache, so `LiteLLMContender.aclose` closes it.
    """
    http_handler = _litellm_module("llms.custom_httpx.http_handler")
    http_handler.get_httpx_client(params=dict(SYNC_CLIENT_PARAMS))


def _gemini(spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str) -> _Params:
    params: _Params = {"model": f"gemini/{spec.model}", "imageConfig": _image(size, aspect_ratio)}
    if endpoint.base_url:
        params["api_base"] = endpoint.base_url.rstrip("/") + "/v1beta"
    return _with_key(params, endpoint)


def _vertex(spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str) -> _Params:
    params: _Params = {
        "model": f"vertex_ai/{spec.model}",
        "imageConfig": _image(size, aspect_ratio),
    }
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
    return params


def _openai(spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str) -> _Params:
    width, height = pixels_for(size, aspect_ratio)
    params: _Params = {"model": f"openai/{spec.model}", "size": f"{width}x{height}", **spec.options}
    if endpoint.base_url:
        params["api_base"] = endpoint.base_url
    return _with_key(params, endpoint)


def _openrouter(spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str) -> _Params:
    image_config = {"aspect_ratio": aspect_ratio, "image_size": size}
    params: _Params = {"model": f"openrouter/{spec.model}", "image_config": image_config}
    if endpoint.base_url:
        params["api_base"] = endpoint.base_url
    return _with_key(params, endpoint)


def _flux(spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str) -> _Params:
    params: _Params = {"model": f"black_forest_labs/{spec.model}", "aspect_ratio": aspect_ratio}
    return _with_key(params, endpoint)


def _image(size: Size, aspect_ratio: str) -> dict[str, str]:
    return {"aspectRatio": aspect_ratio, "imageSize": size}


def _with_key(params: _Params, endpoint: Endpoint) -> _Params:
    if endpoint.api_key:
        params["api_key"] = endpoint.api_key
    return params


_PARAMS: Final[Mapping[str, Callable[[RouteSpec, Endpoint, Size, str], _Params]]] = {
    "gemini": _gemini,
    "vertex": _vertex,
    "openai": _openai,
    "openai_compatible": _openrouter,
    "flux": _flux,
}
"""LiteLLM's ``litellm_params`` per provider it can reach."""


def _deployment(
    spec: RouteSpec, endpoint: Endpoint, size: Size, aspect_ratio: str, *, live: bool
) -> _Params | None:
    """One LiteLLM deployment for ``spec`` at ``size``, or None when LiteLLM cannot reach it."""
    parse_aspect_ratio(aspect_ratio)  # a malformed ratio is refused whatever the provider
    if spec.provider == "flux" and not live:
        # LiteLLM polls only https URLs on bfl.ai: it works live, never on the simulator.
        return None
    build = _PARAMS.get(spec.provider)
    return None if build is None else build(spec, endpoint, size, aspect_ratio)


def _wanted(
    routes: Sequence[RouteSpec], tiers: Sequence[Size]
) -> Iterator[tuple[str, RouteSpec, Size | None, str]]:
    """Every deployment the router is asked for, as ``(group, route, tier, name)``: the
    primaries tier by tier, then each backup at the largest tier it can serve (None when
    it can serve none). ``name`` is what `litellm_config` lists it as when it is skipped."""
    for tier in tiers:
        for spec in routes:
            if not spec.backup and tier in spec.tiers:
                yield _group(tier), spec, tier, _deployment_id(spec, tier)
    for spec in routes:
        if spec.backup:
            yield _BACKUP_GROUP, spec, next((t for t in tiers if t in spec.tiers), None), spec.name


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
    for group, spec, tier, name in _wanted(env.routes, ladder(size)):
        params = None
        if tier is not None:
            endpoint = env.endpoint(spec.provider)
            params = _deployment(spec, endpoint, tier, aspect_ratio, live=env.live)
        if tier is None or params is None:
            skipped.append(name)
            continue
        model_list.append(
            {
                "model_name": group,
                "litellm_params": params,
                "model_info": {"id": _deployment_id(spec, tier)},
            }
        )
    # A group with no deployment is left out of the fallbacks.
    groups = list(dict.fromkeys(d["model_name"] for d in model_list))
    fallbacks = [{groups[0]: groups[1:]}] if len(groups) > 1 else []
    return model_list, fallbacks, skipped


class LiteLLMContender:
    """LiteLLM's Router over the route set (configuration in the module docstring)."""

    __slots__ = ("_env", "_executor", "_host", "_routers", "name", "skipped")

    def __init__(self) -> None:
        self.name = "litellm"
        self._env: BenchEnv | None = None
        self._host: ClockHost | None = None
        self._routers: dict[tuple[Size, str], Any] = {}
        self._executor: KeepingExecutor | None = None
        self.skipped: list[str] = []

    async def open(self, env: BenchEnv) -> None:
        """Import LiteLLM (quietly, offline), widen the event loop's default executor, and
        build the router for the run's tier and ratio on a `ClockHost` over ``env.clock``
        (building one takes LiteLLM a while; others are built when first asked for)."""
        python_host = _litellm_module("router_python_host").python_host
        self._env = env
        timeout_s = min(CALL_TIMEOUT_S, env.deadline_s)
        self._host = ClockHost(
            python_host,
            env.clock,
            time_scale=env.time_scale,
            call_timeout_s=timeout_s if env.virtual else None,
            clocked_cache=env.virtual,
        )
        # LiteLLM 1.110 runs Gemini and Vertex image calls as *blocking* HTTP in the
        # loop's default executor (min(32, CPUs + 4) threads: 6 on a 2-core machine),
        # which would cap it at 6 calls in flight. Give it a thread per call it can have,
        # in a pool that keeps the coroutines the threads return: one whose caller was
        # cancelled at the deadline is closed at `aclose`, not dropped un-awaited.
        self._executor = KeepingExecutor(max_workers=max(32, 4 * env.concurrency))
        asyncio.get_running_loop().set_default_executor(self._executor)
        # LiteLLM draws its retry jitter from the global `random`: seeded from the run's
        # seed. Its shuffle of deployments is drawn in native code and cannot be seeded.
        random.seed(env.seed)
        _share_sync_client()
        self._router(env.size, env.aspect_ratio)

    def _router(self, size: Size, aspect_ratio: str) -> Any:
        key = (size, aspect_ratio)
        router = self._routers.get(key)
        if router is not None:
            return router
        env, host = self._env, self._host
        assert env is not None, "open() first"
        assert host is not None, "open() first"
        model_list, fallbacks, skipped = litellm_config(env, size, aspect_ratio)
        self.skipped = sorted(set(self.skipped) | set(skipped))
        scale = env.time_scale
        # Router(...)'s own arguments, built into a config the way Router(...) builds it.
        arguments = _litellm_module("router").router_arguments(
            model_list=model_list,
            fallbacks=fallbacks,
            num_retries=_NUM_RETRIES,
            timeout=min(CALL_TIMEOUT_S, env.deadline_s) * scale,
            # On virtual time LiteLLM's cooldowns stay on the wall clock (its native store
            # has no public clock option): real seconds at LiteLLM's nominal time scale.
            cooldown_time=COOLDOWN_S * (VIRTUAL_COOLDOWN_SCALE if env.virtual else scale),
        )
        config = _litellm_module("router_config").build_router_config(arguments)
        router = quiet_litellm().Router.from_config(config, host=host)
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
        served = str(response.hidden_params.get("model_id") or "")
        route = served.rpartition("@")[0] or "litellm"
        return Delivery(max(images, key=lambda i: i.width * i.height), route)

    def calls_made(self) -> int:
        """The image calls LiteLLM's routers made (counted by their `ClockHost`)."""
        return 0 if self._host is None else self._host.image_calls

    async def aclose(self) -> None:
        """Wait for LiteLLM's blocking calls to end, then close what LiteLLM left open.

        A Gemini or Vertex call cancelled at the deadline keeps running in its thread until
        LiteLLM's own timeout; the executor is drained (in another thread) so that no
        socket outlives the run, and the coroutines its threads returned to cancelled
        callers are closed. LiteLLM caches its clients per process, sync and async; both
        kinds are closed and the cache emptied (a later run may be on another loop), and
        only then is what LiteLLM's threads dropped collected, so that it is collected
        closed, here, rather than at a random later point.
        """
        self._routers.clear()
        executor, self._executor = self._executor, None
        if executor is not None:
            await anyio.to_thread.run_sync(executor.shutdown, True)
            for _ in range(5):  # let the loop run the callbacks of the last threads
                await asyncio.sleep(0)
            executor.close_unstarted()
            asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor())
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
        gc.collect()

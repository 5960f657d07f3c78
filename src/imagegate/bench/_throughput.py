"""Throughput through the router, in requests per CPU-second of the client.

Against a zero-latency simulator (a `Scenario` built in code, running in a child process
so its CPU time is not the client's), ``concurrency`` workers send ``requests`` requests
for 1K images four ways, in alternating rounds after one warm-up round per way that is
discarded. Its images are small (kilobytes) unless ``payload="realistic"`` asks for the
byte sizes of real answers (megabytes of base64), where decoding them costs the adapter
far more than the router's own work:

- ``sdk``: the official SDK alone (google-genai ``generate_content``; openai
  ``images.generate`` on its aiohttp transport, decoding the base64), no retries;
- ``adapter``: the imagegate adapter's ``generate`` (SDK plus mapping and image checks),
  with an attempt timeout as the router's calls carry one (google-genai copies its HTTP
  options for a call with a timeout of its own: that is the adapter's work either way);
- ``deadline``: the adapter's ``generate`` inside an ``asyncio.timeout`` and nothing else
  — the least a router that keeps a deadline could do around the call, to tell what
  wrapping the call costs at all under this load from what the router's own work costs;
- ``router``: ``Router.generate`` over that adapter.

Each way sends the same prompts (so the simulator answers each way with the same
payloads), with the same number of workers. A round is timed two ways: in CPU time of
this process (`time.process_time`: every thread of the client, nothing of the simulator
or of other processes on the machine) and in wall time. The headline is requests per
CPU-second — what one client process serves when its CPU is the limit — which does not
move with the machine's load the way requests per second of wall time do (those are
kept as a secondary figure). The ratios ``router / adapter`` (target: ≥ 0.95),
``deadline / adapter`` and ``adapter / sdk`` are taken within each round and reported as
their median and range, with what the router and the deadline alone cost per request over
the adapter, in CPU µs.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

import anyio
from pydantic import SecretStr

from imagegate._provider import ProviderRequest
from imagegate._route import Route
from imagegate._router import Router
from imagegate.bench._serve import SimulatorProcess, fixed_latency_scenario
from imagegate.bench._setup import raw_gemini_client
from imagegate.providers import ProviderConfig, registry
from imagegate.testing._images import Payload

__all__ = [
    "TARGET",
    "Call",
    "Round",
    "ThroughputResult",
    "summarize",
    "throughput",
    "timed_rounds",
]

TARGET: Final = 0.95
"""The router's requests per CPU-second aimed at, as a share of the adapter's alone."""

_MODELS: Final = {"gemini": "gemini-3-pro-image", "openai": "gpt-image-2.6-sunburst"}
_WAYS: Final = ("sdk", "adapter", "deadline", "router")
_ATTEMPT_TIMEOUT_S: Final = 60.0
"""The adapter's timeout when called alone (the router's calls carry one it learns)."""

Call = Callable[[int], Awaitable[object]]
"""One request of a way, by its number (the prompt is built from it)."""


@dataclass(frozen=True, slots=True)
class Round:
    """One way's timed round.

    Attributes:
        requests: Requests sent.
        cpu_s: CPU seconds this process spent on them.
        wall_s: Wall-clock seconds they took.
    """

    requests: int
    cpu_s: float
    wall_s: float

    @property
    def per_cpu_s(self) -> float:
        """Requests per CPU-second."""
        return self.requests / self.cpu_s

    @property
    def per_wall_s(self) -> float:
        """Requests per second of wall time."""
        return self.requests / self.wall_s


async def _round(
    call: Call,
    requests: int,
    concurrency: int,
    cpu: Callable[[], float],
    wall: Callable[[], float],
) -> Round:
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            await call(i)

    gc.collect()  # one way's garbage is not collected on the next one's time
    cpu_started, wall_started = cpu(), wall()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return Round(requests, cpu() - cpu_started, wall() - wall_started)


async def timed_rounds(
    ways: Mapping[str, Call],
    *,
    requests: int,
    concurrency: int,
    rounds: int,
    warmup: int,
    cpu: Callable[[], float] = time.process_time,
    wall: Callable[[], float] = time.perf_counter,
) -> dict[str, list[Round]]:
    """Each way's timed rounds: first one untimed round of ``warmup`` requests per way,
    then ``rounds`` rounds in which every way sends requests ``0 … requests-1`` from
    ``concurrency`` workers, one way after the other in the order of ``ways``."""
    for call in ways.values():
        await _round(call, warmup, concurrency, cpu, wall)
    timed: dict[str, list[Round]] = {way: [] for way in ways}
    for _ in range(rounds):
        for way, call in ways.items():
            timed[way].append(await _round(call, requests, concurrency, cpu, wall))
    return timed


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    """Throughput of one provider three ways, from one run.

    Attributes:
        provider: ``"gemini"`` or ``"openai"``.
        payload: The simulator's images: ``"small"`` or ``"realistic"``.
        image_bytes: The size of the image each request got (0: not known).
        requests: Requests per round and way.
        concurrency: Workers.
        sdk_per_cpu_s: Median requests per CPU-second of the client, SDK alone.
        adapter_per_cpu_s: The same, imagegate adapter.
        router_per_cpu_s: The same, imagegate router.
        deadline_per_cpu_s: The same, the adapter inside an ``asyncio.timeout`` alone.
        router_vs_adapter: Median over rounds of the round's router / adapter
            requests per CPU-second (target: ≥ 0.95).
        deadline_vs_adapter: Median over rounds of deadline / adapter.
        adapter_vs_sdk: Median over rounds of adapter / SDK, per CPU-second.
        router_vs_sdk: Median over rounds of router / SDK, per CPU-second.
        router_vs_adapter_range: Lowest and highest round's router / adapter.
        deadline_vs_adapter_range: Lowest and highest round's deadline / adapter.
        adapter_vs_sdk_range: Lowest and highest round's adapter / SDK.
        router_extra_us: Median over rounds of the router's CPU µs per request above
            the adapter's in the same round.
        deadline_extra_us: The same, for the deadline alone.
        sdk_rps: Median requests per second of wall time, SDK alone (moves with the
            machine's load).
        adapter_rps: The same, imagegate adapter.
        router_rps: The same, imagegate router.
        rounds: Each round's CPU and wall seconds per way
            (``{"sdk": [{"requests": …, "cpu_s": …, "wall_s": …}, …], …}``).
    """

    provider: str
    payload: str
    image_bytes: int
    requests: int
    concurrency: int
    sdk_per_cpu_s: float
    adapter_per_cpu_s: float
    router_per_cpu_s: float
    deadline_per_cpu_s: float
    router_vs_adapter: float
    deadline_vs_adapter: float
    adapter_vs_sdk: float
    router_vs_sdk: float
    router_vs_adapter_range: tuple[float, float]
    deadline_vs_adapter_range: tuple[float, float]
    adapter_vs_sdk_range: tuple[float, float]
    router_extra_us: float
    deadline_extra_us: float
    sdk_rps: float
    adapter_rps: float
    router_rps: float
    rounds: dict[str, list[Round]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


def summarize(
    provider: str,
    *,
    requests: int,
    concurrency: int,
    rounds: Mapping[str, list[Round]],
    payload: str = "small",
    image_bytes: int = 0,
) -> ThroughputResult:
    """The medians and within-round ratios of the three ways' ``rounds``."""

    def median(way: str, rate: Callable[[Round], float]) -> float:
        return statistics.median(rate(r) for r in rounds[way])

    def ratios(top: str, bottom: str) -> list[float]:
        pairs = zip(rounds[top], rounds[bottom], strict=True)
        return [t.per_cpu_s / b.per_cpu_s for t, b in pairs]

    def extra_us(way: str) -> float:
        pairs = zip(rounds[way], rounds["adapter"], strict=True)
        return statistics.median(
            1e6 * (w.cpu_s / w.requests - a.cpu_s / a.requests) for w, a in pairs
        )

    router_adapter, adapter_sdk = ratios("router", "adapter"), ratios("adapter", "sdk")
    deadline_adapter = ratios("deadline", "adapter")
    return ThroughputResult(
        provider=provider,
        payload=payload,
        image_bytes=image_bytes,
        requests=requests,
        concurrency=concurrency,
        sdk_per_cpu_s=median("sdk", _per_cpu_s),
        adapter_per_cpu_s=median("adapter", _per_cpu_s),
        router_per_cpu_s=median("router", _per_cpu_s),
        deadline_per_cpu_s=median("deadline", _per_cpu_s),
        router_vs_adapter=statistics.median(router_adapter),
        deadline_vs_adapter=statistics.median(deadline_adapter),
        adapter_vs_sdk=statistics.median(adapter_sdk),
        router_vs_sdk=statistics.median(ratios("router", "sdk")),
        router_vs_adapter_range=(min(router_adapter), max(router_adapter)),
        deadline_vs_adapter_range=(min(deadline_adapter), max(deadline_adapter)),
        adapter_vs_sdk_range=(min(adapter_sdk), max(adapter_sdk)),
        router_extra_us=extra_us("router"),
        deadline_extra_us=extra_us("deadline"),
        sdk_rps=median("sdk", _per_wall_s),
        adapter_rps=median("adapter", _per_wall_s),
        router_rps=median("router", _per_wall_s),
        rounds={way: list(rounds[way]) for way in _WAYS},
    )


def _per_cpu_s(r: Round) -> float:
    return r.per_cpu_s


def _per_wall_s(r: Round) -> float:
    return r.per_wall_s


def _sdk_call(provider: str, base_url: str, key: str) -> tuple[Any, Call]:
    if provider == "gemini":
        from google.genai import types

        client = raw_gemini_client(base_url, key)
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(image_size="1K", aspect_ratio="1:1"),
        )

        async def gemini(i: int) -> object:
            response = await client.aio.models.generate_content(
                model=_MODELS["gemini"], contents=_prompt(i), config=config
            )
            return next(p.inline_data.data for p in response.parts or [] if p.inline_data)

        return client.aio, gemini
    import openai

    oai = openai.AsyncOpenAI(
        api_key=key, base_url=base_url, max_retries=0, http_client=openai.DefaultAioHttpClient()
    )

    async def images(i: int) -> object:
        response = await oai.images.generate(
            model=_MODELS["openai"], prompt=_prompt(i), size="1024x1024", quality="medium"
        )
        assert response.data
        return base64.b64decode(response.data[0].b64_json or "")

    return oai, images


def _prompt(i: int) -> str:
    """Request ``i``'s prompt, the same for every way (so are the simulator's answers)."""
    return f"throughput {i}"


async def _one_provider(
    provider: str,
    base_url: str,
    key: str,
    *,
    requests: int,
    concurrency: int,
    rounds: int,
    payload: Payload,
) -> ThroughputResult:
    model = _MODELS[provider]
    options: dict[str, Any] = {"quality": "medium"} if provider == "openai" else {}
    client, sdk = _sdk_call(provider, base_url, key)
    adapter = registry.create(
        provider, ProviderConfig(api_key=SecretStr(key), base_url=base_url, options=options)
    )
    route = Route(provider, model=model, base_url=base_url, api_key=key, **options)
    image_bytes = [0]
    try:
        async with Router([route], max_in_flight=2 * concurrency, seed=0) as router:

            async def direct(i: int) -> object:
                call = ProviderRequest(
                    _prompt(i), model, "1K", timeout_s=_ATTEMPT_TIMEOUT_S, options=options
                )
                return await adapter.generate(call)

            async def deadline(i: int) -> object:
                async with asyncio.timeout(_ATTEMPT_TIMEOUT_S):
                    return await direct(i)

            async def routed(i: int) -> object:
                result = await router.generate(_prompt(i), size="1K")
                image_bytes[0] = len(result.image.data)  # the same for every request
                return result

            timed = await timed_rounds(
                {"sdk": sdk, "adapter": direct, "deadline": deadline, "router": routed},
                requests=requests,
                concurrency=concurrency,
                rounds=rounds,
                warmup=min(200, requests),
            )
    finally:
        await adapter.aclose()
        await _close(client)
    return summarize(
        provider,
        requests=requests,
        concurrency=concurrency,
        rounds=timed,
        payload=payload,
        image_bytes=image_bytes[0],
    )


async def throughput(
    *,
    providers: tuple[str, ...] = ("gemini", "openai"),
    requests: int = 2000,
    concurrency: int = 32,
    rounds: int = 5,
    payload: Payload = "small",
) -> list[ThroughputResult]:
    """Measure the SDK, the adapter, the adapter under a deadline and the router per
    CPU-second (see the module docstring)."""
    async with SimulatorProcess(fixed_latency_scenario(), payload=payload) as server:
        return [
            await _one_provider(
                provider,
                server.base_urls[provider],
                server.keys[provider],
                requests=requests,
                concurrency=concurrency,
                rounds=rounds,
                payload=payload,
            )
            for provider in providers
        ]


async def _close(client: Any) -> None:
    closer = getattr(client, "aclose", None) or getattr(client, "close", None)
    if closer is not None:
        await closer()

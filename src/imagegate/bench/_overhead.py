"""What the router itself costs: per request with a null provider, and in throughput.

**Null-provider overhead.** A provider that returns a prebuilt image at once (no clock
sleep, no I/O) is called ``requests`` times directly, then through a `Router` with its
default policies, one request after the other, timed in CPU time of this process
(`time.process_time_ns`: other processes on the machine do not count); the difference
per request is the router's own cost (request validation, the ladder, breaker,
dispatcher, retry budget, ledger, outcome window, the result record, and for 4K the
hedge timer). Rounds alternate and the median round is kept. What imagegate's
OpenTelemetry support costs is timed on its own (see `OverheadResult`).

**Throughput.** Against a zero-latency simulator (a `Scenario` built in code, running in a
child process so the client process is the only one measured), ``concurrency`` workers
send ``requests`` requests for 1K images three ways, in alternating rounds:

- ``sdk``: the official SDK alone (google-genai ``generate_content``; openai
  ``images.generate`` on its aiohttp transport, decoding the base64), no retries;
- ``adapter``: the imagegate adapter's ``generate`` (SDK plus mapping and image checks);
- ``router``: ``Router.generate`` over that adapter.

Requests per second are reported per way (median of the rounds), with the ratios
``router / adapter`` (target: ≥ 0.95) and ``adapter / sdk`` taken within each round
(the three ways of a round run back to back, so machine noise hits them alike) and
reported as their median and range, all from the same run.
"""

from __future__ import annotations

import base64
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Final

import anyio
from pydantic import SecretStr

from imagegate import _otel
from imagegate._deadline import TimeBudget
from imagegate._otel import RequestTrace
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, ImageRequest, Size, pixels_for
from imagegate._result import GeneratedImage, ImageResult
from imagegate._route import Route
from imagegate._router import Router
from imagegate.bench._serve import SimulatorProcess, fixed_latency_scenario
from imagegate.bench._setup import raw_gemini_client
from imagegate.providers import ProviderConfig, registry
from imagegate.testing._images import make_png

__all__ = ["NullProvider", "OverheadResult", "ThroughputResult", "null_overhead", "throughput"]

_MODELS: Final = {"gemini": "gemini-3-pro-image", "openai": "gpt-image-2.6-sunburst"}


class NullProvider:
    """A provider that answers every call at once with a prebuilt image of the tier asked."""

    __slots__ = ("_responses", "name")

    def __init__(self) -> None:
        self.name = "null"
        self._responses = {
            size: ProviderResponse(images=(GeneratedImage(make_png(*pixels_for(size))),))
            for size in SIZES
        }

    def capabilities(self, model: str) -> Capabilities:
        """Every tier and ratio, free."""
        return Capabilities(price_usd=dict.fromkeys(SIZES, 0.0))

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """The prebuilt response for the tier asked."""
        return self._responses[request.size]

    async def aclose(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True, slots=True)
class OverheadResult:
    """Null-provider overhead for one tier.

    Attributes:
        size: The tier requested.
        requests: Requests per round.
        direct_us: Median microseconds per direct ``provider.generate`` call.
        router_us: Median microseconds per ``router.generate`` call.
        overhead_us: ``router_us - direct_us``: the router's own cost per request.
        telemetry_us: What imagegate's OpenTelemetry support costs per single-attempt
            request in this process, timed on its own: with no tracer or meter provider
            set, the request's check that nothing receives its telemetry (the hooks are
            then skipped); with one set, the hooks (the request's wrapper around an
            answer at hand, and one attempt's hook). 0 without ``opentelemetry-api``.
    """

    size: Size
    requests: int
    direct_us: float
    router_us: float
    overhead_us: float
    telemetry_us: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


async def null_overhead(
    *, requests: int = 20_000, rounds: int = 5, sizes: tuple[Size, ...] = ("1K", "4K")
) -> list[OverheadResult]:
    """Measure the router's own cost per request (see the module docstring)."""
    provider = NullProvider()
    results = []
    async with Router([Route(provider, model="null")], seed=0) as router:
        for size in sizes:
            direct: list[float] = []
            routed: list[float] = []
            for _ in range(rounds):
                started = time.process_time_ns()
                for i in range(requests):
                    await provider.generate(
                        ProviderRequest(prompt=f"p{i}", model="null", size=size)
                    )
                direct.append((time.process_time_ns() - started) / requests / 1000)
                routed.append(await _routed_us(router, size, requests))
            d, r = statistics.median(direct), statistics.median(routed)
            hooks = await _telemetry_us(router, size, requests)
            results.append(OverheadResult(size, requests, d, r, r - d, hooks))
    return results


async def _telemetry_us(router: Router, size: Size, requests: int) -> float:
    """What OpenTelemetry support costs one single-attempt request (µs): the check
    while nothing receives telemetry, else the hooks."""
    telemetry = _otel.telemetry
    if telemetry is None:
        return 0.0
    if not telemetry.active():
        started = time.process_time_ns()
        for _ in range(requests):
            telemetry.active()
        return (time.process_time_ns() - started) / requests / 1000
    result = await router.generate("hooks", size=size)
    route, attempt = router.routes[0], result.attempts[0]
    run = _HookRun(router, result)

    async def answer() -> ImageResult:
        return result

    started = time.process_time_ns()
    for _ in range(requests):
        await answer()
    bare = time.process_time_ns() - started
    started = time.process_time_ns()
    for _ in range(requests):
        await telemetry.run(run, answer)
        telemetry.attempt(None, route, attempt)
    return (time.process_time_ns() - started - bare) / requests / 1000


class _HookRun:
    """What `Telemetry.run` reads from a request's run, for `_telemetry_us`."""

    def __init__(self, router: Router, result: ImageResult) -> None:
        self.engine = router.engine
        self.request = ImageRequest.build("hooks", size=result.requested_size)
        self.request_id = result.request_id
        self.time = TimeBudget(router.engine, self.request)
        self.trace: RequestTrace | None = None


async def _routed_us(router: Router, size: Size, requests: int) -> float:
    started = time.process_time_ns()
    for i in range(requests):
        await router.generate(f"p{i}", size=size)
    return (time.process_time_ns() - started) / requests / 1000


@dataclass(frozen=True, slots=True)
class ThroughputResult:
    """Throughput of one provider three ways, from one run.

    Attributes:
        provider: ``"gemini"`` or ``"openai"``.
        requests: Requests per round and way.
        concurrency: Workers.
        sdk_rps: Median requests per second, SDK alone.
        adapter_rps: Median requests per second, imagegate adapter.
        router_rps: Median requests per second, imagegate router.
        router_vs_adapter: Median over rounds of the round's router / adapter rate.
        adapter_vs_sdk: Median over rounds of adapter / SDK.
        router_vs_sdk: Median over rounds of router / SDK.
        router_vs_adapter_range: Lowest and highest round's router / adapter.
        adapter_vs_sdk_range: Lowest and highest round's adapter / SDK.
        rounds: Rates per round and way (``{"sdk": [...], ...}``).
    """

    provider: str
    requests: int
    concurrency: int
    sdk_rps: float
    adapter_rps: float
    router_rps: float
    router_vs_adapter: float
    adapter_vs_sdk: float
    router_vs_sdk: float
    router_vs_adapter_range: tuple[float, float]
    adapter_vs_sdk_range: tuple[float, float]
    rounds: dict[str, list[float]]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


async def _rate(call: Callable[[int], Awaitable[object]], requests: int, concurrency: int) -> float:
    counter = iter(range(requests))

    async def worker() -> None:
        for i in counter:
            await call(i)

    started = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return requests / (time.perf_counter() - started)


def _sdk_call(
    provider: str, base_url: str, key: str
) -> tuple[Any, Callable[[int], Awaitable[object]]]:
    if provider == "gemini":
        from google.genai import types

        client = raw_gemini_client(base_url, key)
        config = types.GenerateContentConfig(
            response_modalities=["TEXT", "IMAGE"],
            image_config=types.ImageConfig(image_size="1K", aspect_ratio="1:1"),
        )

        async def gemini(i: int) -> object:
            response = await client.aio.models.generate_content(
                model=_MODELS["gemini"], contents=f"sdk {i}", config=config
            )
            return next(p.inline_data.data for p in response.parts or [] if p.inline_data)

        return client.aio, gemini
    import openai

    oai = openai.AsyncOpenAI(
        api_key=key, base_url=base_url, max_retries=0, http_client=openai.DefaultAioHttpClient()
    )

    async def images(i: int) -> object:
        response = await oai.images.generate(
            model=_MODELS["openai"], prompt=f"sdk {i}", size="1024x1024", quality="medium"
        )
        assert response.data
        return base64.b64decode(response.data[0].b64_json or "")

    return oai, images


async def _one_provider(
    provider: str,
    base_url: str,
    key: str,
    *,
    requests: int,
    concurrency: int,
    rounds: int,
) -> ThroughputResult:
    model = _MODELS[provider]
    options: dict[str, Any] = {"quality": "medium"} if provider == "openai" else {}
    client, sdk = _sdk_call(provider, base_url, key)
    adapter = registry.create(
        provider, ProviderConfig(api_key=SecretStr(key), base_url=base_url, options=options)
    )
    route = Route(provider, model=model, base_url=base_url, api_key=key, **options)
    rates: dict[str, list[float]] = {"sdk": [], "adapter": [], "router": []}
    try:
        async with Router([route], max_in_flight=2 * concurrency, seed=0) as router:

            async def direct(i: int) -> object:
                call = ProviderRequest(f"adapter {i}", model, "1K", options=options)
                return await adapter.generate(call)

            async def routed(i: int) -> object:
                return await router.generate(f"router {i}", size="1K")

            ways = {"sdk": sdk, "adapter": direct, "router": routed}
            for call in ways.values():  # warm every client up
                await _rate(call, min(200, requests), concurrency)
            for _ in range(rounds):
                for way, call in ways.items():
                    rates[way].append(await _rate(call, requests, concurrency))
    finally:
        await adapter.aclose()
        await _close(client)
    s, a, r = (statistics.median(rates[w]) for w in ("sdk", "adapter", "router"))
    router_adapter = [r / a for r, a in zip(rates["router"], rates["adapter"], strict=True)]
    adapter_sdk = [a / s for a, s in zip(rates["adapter"], rates["sdk"], strict=True)]
    router_sdk = [r / s for r, s in zip(rates["router"], rates["sdk"], strict=True)]
    return ThroughputResult(
        provider,
        requests,
        concurrency,
        s,
        a,
        r,
        statistics.median(router_adapter),
        statistics.median(adapter_sdk),
        statistics.median(router_sdk),
        (min(router_adapter), max(router_adapter)),
        (min(adapter_sdk), max(adapter_sdk)),
        rates,
    )


async def throughput(
    *,
    providers: tuple[str, ...] = ("gemini", "openai"),
    requests: int = 2000,
    concurrency: int = 32,
    rounds: int = 5,
) -> list[ThroughputResult]:
    """Measure requests per second SDK vs adapter vs router (see the module docstring)."""
    async with SimulatorProcess(fixed_latency_scenario()) as server:
        return [
            await _one_provider(
                provider,
                server.base_urls[provider],
                server.keys[provider],
                requests=requests,
                concurrency=concurrency,
                rounds=rounds,
            )
            for provider in providers
        ]


async def _close(client: Any) -> None:
    closer = getattr(client, "aclose", None) or getattr(client, "close", None)
    if closer is not None:
        await closer()

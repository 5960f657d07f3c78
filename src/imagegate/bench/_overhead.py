"""What the router itself costs per request, with a null provider.

**Null-provider overhead.** A provider that returns a prebuilt image at once (no clock
sleep, no I/O) is called ``requests`` times directly, then through a `Router` with its
default policies, one request after the other, timed in CPU time of this process
(`time.process_time_ns`: other processes on the machine do not count); the difference
per request is the router's own cost (request validation, the ladder, breaker,
dispatcher, retry budget, ledger, outcome window, the result record, and for 4K the
hedge timer). Rounds alternate and the median round is kept. What imagegate's
OpenTelemetry support costs is timed on its own (see `OverheadResult`).

Throughput through the router is measured by `imagegate.bench._throughput`.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Any

from imagegate import _otel
from imagegate._deadline import TimeBudget
from imagegate._otel import RequestTrace
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, ImageRequest, Size, pixels_for
from imagegate._result import GeneratedImage, ImageResult
from imagegate._route import Route
from imagegate._router import Router
from imagegate.testing._images import make_png

__all__ = ["NullProvider", "OverheadResult", "null_overhead"]


class NullProvider:
    """A provider that answers every call at once with a prebuilt image of the tier asked."""

    __slots__ = ("_responses", "name")
    ends_when_cancelled = True  # like the built-in adapters: called in the request's task

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

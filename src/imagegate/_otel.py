"""OpenTelemetry traces and metrics, when ``opentelemetry-api`` is installed (the ``otel``
extra); nothing at all when it is not.

Through the API only: the application chooses the SDK, exporters and sampling. Until it
sets a tracer provider no span is built, and until it sets a tracer or a meter provider a
request skips telemetry altogether (imagegate looks for them at most once a second, so
requests in the first second after one is set may go untraced and uncounted); metric
instruments are the API's proxies, which forward to the meter provider once one is set.
With ``OTEL_SDK_DISABLED=true`` imagegate reports nothing at all.

Spans (docs/observability.md draws the tree)::

    imagegate.generate                       one per request, INTERNAL
      generate_content <model>               one per attempt, CLIENT: hedges and races
      generate_content <model>               are siblings whose times overlap

Times come from the router's clock (a fake or virtual clock in tests and benchmarks):
the request span starts at the wall time it began and each attempt is placed at its
clock offset from there, so the tree is consistent whatever the clock.

Metrics: ``imagegate.requests``, ``imagegate.attempts`` (counters),
``imagegate.request.duration``, ``imagegate.attempt.duration`` (histograms, seconds),
``imagegate.cost`` (counter, USD), ``imagegate.breaker.state`` (0 closed, 1 half open,
2 open) and ``imagegate.quota.requests_now`` (observable gauges, per open router).
"""

from __future__ import annotations

import os
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from imagegate import __version__
from imagegate._numbers import usd
from imagegate.errors import AllRoutesFailed

if TYPE_CHECKING:
    from imagegate._deadline import TimeBudget
    from imagegate._engine import Engine
    from imagegate._health import RouteHealth
    from imagegate._request import ImageRequest
    from imagegate._result import Attempt, ImageResult
    from imagegate._route import Route

try:  # the otel extra
    from opentelemetry import metrics, trace
    from opentelemetry.trace import Span, SpanKind, StatusCode
except ImportError:  # pragma: no cover - exercised by the core-only CI lane
    trace = None  # type: ignore[assignment]

_PROXY_METER_PROVIDER: type[Any] | None
try:  # the API's stand-in until a meter provider is set (private: may move)
    from opentelemetry.metrics import _internal as _metrics_internal

    _PROXY_METER_PROVIDER = _metrics_internal._ProxyMeterProvider
except (ImportError, AttributeError):  # pragma: no cover - then every request reports
    _PROXY_METER_PROVIDER = None

__all__ = ["RequestTrace", "Telemetry", "TracedRun", "Watched", "telemetry"]

# gen_ai.provider.name values of the GenAI semantic conventions, where one fits.
_PROVIDER_NAMES: Final = {"gemini": "gcp.gemini", "vertex": "gcp.vertex_ai", "openai": "openai"}
_BREAKER_LEVELS: Final = {"closed": 0, "half_open": 1, "open": 2}
_OPERATION: Final = "generate_content"
_LOOK_AGAIN_S: Final = 1.0


def _gen_ai(route: Route) -> dict[str, str]:
    return {
        "gen_ai.operation.name": _OPERATION,
        "gen_ai.provider.name": _PROVIDER_NAMES.get(route.provider, route.provider),
        "gen_ai.request.model": route.model,
        "gen_ai.output.type": "image",
    }


class Watched(Protocol):
    """What the gauges read from an open router."""

    def health(self) -> list[RouteHealth]:
        """Per (route, size): breaker, quota …"""
        ...


class TracedRun(Protocol):
    """What `Telemetry.run` reads from a request's run, and the span it leaves there."""

    engine: Engine
    request: ImageRequest
    request_id: str
    time: TimeBudget
    trace: RequestTrace | None


class RequestTrace:
    """One request's span, and the wall and clock times it started at."""

    __slots__ = ("clock_start", "span", "wall_start_ns")

    def __init__(self, span: Span, wall_start_ns: int, clock_start: float) -> None:
        self.span = span
        self.wall_start_ns = wall_start_ns
        self.clock_start = clock_start

    def at(self, clock_time: float) -> int:
        """Wall nanoseconds of a clock time of the request."""
        return self.wall_start_ns + int((clock_time - self.clock_start) * 1e9)


class Telemetry:
    """The tracer and instruments imagegate reports through (module docstring)."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("imagegate", __version__)
        self._tracing = _Lookup(_traced)
        self._activity = _Lookup(lambda: _traced() or _metered())
        meter = metrics.get_meter("imagegate", __version__)
        self._requests = meter.create_counter(
            "imagegate.requests", "{request}", "Requests ended, by outcome and size"
        )
        self._attempts = meter.create_counter(
            "imagegate.attempts", "{attempt}", "Upstream calls, by route, size and outcome"
        )
        self._request_s = meter.create_histogram(
            "imagegate.request.duration", "s", "Time from the call to the answer"
        )
        self._attempt_s = meter.create_histogram(
            "imagegate.attempt.duration", "s", "Time of one upstream call"
        )
        self._cost = meter.create_counter(
            "imagegate.cost", "USD", "Cost of attempts, billed and possibly billed"
        )
        self._routers: weakref.WeakSet[Watched] = weakref.WeakSet()
        meter.create_observable_gauge(
            "imagegate.breaker.state",
            [self._breakers],
            "1",
            "Breaker per route and size: 0 closed, 1 half open, 2 open",
        )
        meter.create_observable_gauge(
            "imagegate.quota.requests_now",
            [self._quotas],
            "{request}",
            "Requests a route's rate limit lets start now",
        )

    def active(self) -> bool:
        """Whether anything receives what imagegate reports: the application has set a
        tracer or a meter provider. Looked up at most once a second until it has, then
        for good (a global provider is set only once); until then a request skips its
        telemetry hooks altogether."""
        return self._activity()

    def watch(self, router: Watched) -> None:
        """Report ``router``'s breakers and quotas while it is open."""
        self._routers.add(router)

    def unwatch(self, router: Watched) -> None:
        """Stop reporting ``router``."""
        self._routers.discard(router)

    async def run(self, run: TracedRun, body: Callable[[], Awaitable[ImageResult]]) -> ImageResult:
        """Run ``body`` (the request's execution) inside its span, counting how it ends."""
        size = run.request.size
        run.trace = traced = self.start(run.request_id, size, run.time.started)
        result: ImageResult | None = None
        error: BaseException | None = None
        try:
            if traced is None:
                result = await body()
            else:
                with trace.use_span(
                    traced.span,
                    end_on_exit=False,
                    record_exception=False,
                    set_status_on_exception=False,
                ):
                    result = await body()
            return result
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.end(traced, size, run.time.elapsed(), result, error)

    def start(
        self, request_id: str, requested_size: str, clock_start: float
    ) -> RequestTrace | None:
        """The request's span, started, or None while no tracer provider is set."""
        if not self._tracing():
            return None
        now = time.time_ns()
        span = self._tracer.start_span(
            "imagegate.generate",
            kind=SpanKind.INTERNAL,
            start_time=now,
            attributes={
                "gen_ai.operation.name": _OPERATION,
                "gen_ai.output.type": "image",
                "imagegate.request_id": request_id,
                "imagegate.requested_size": requested_size,
            },
        )
        return RequestTrace(span, now, clock_start)

    def attempt(self, request: RequestTrace | None, route: Route, attempt: Attempt) -> None:
        """Count ``attempt`` and, in a traced request, give it its child span."""
        where = {"imagegate.route": attempt.route, "imagegate.size": attempt.size}
        counted = {**where, "imagegate.outcome": attempt.outcome}
        self._attempts.add(1, counted)
        self._attempt_s.record(attempt.duration_s, counted)
        if attempt.cost_usd:
            self._cost.add(attempt.cost_usd, {**where, "imagegate.billing": attempt.billing})
        if request is None:
            return
        error = attempt.error
        attributes: dict[str, Any] = {
            **_gen_ai(route),
            **counted,
            "imagegate.attempt": attempt.number,
            "imagegate.role": "hedge" if attempt.hedge else "main",
            "imagegate.billing": attempt.billing,
            "imagegate.cost_usd": usd(attempt.cost_usd),
        }
        if attempt.delivered_size is not None:
            attributes["imagegate.delivered_size"] = attempt.delivered_size
        if error is not None:
            attributes["error.type"] = type(error).__name__
            status = getattr(error, "status", None)
            if status is not None:
                attributes["http.response.status_code"] = status
        elif attempt.outcome != "success":
            attributes["error.type"] = attempt.outcome
        span = self._tracer.start_span(
            f"{_OPERATION} {route.model}",
            context=trace.set_span_in_context(request.span),
            kind=SpanKind.CLIENT,
            start_time=request.at(attempt.started),
            attributes=attributes,
        )
        if "error.type" in attributes:
            span.set_status(StatusCode.ERROR, error.message if error is not None else None)
        span.end(end_time=request.at(attempt.ended))

    def end(
        self,
        request: RequestTrace | None,
        requested_size: str,
        elapsed_s: float,
        result: ImageResult | None,
        error: BaseException | None,
    ) -> None:
        """Count the request's end and close its span with the answer's attributes."""
        outcome = "image" if result is not None else "failed"
        counted = {"imagegate.outcome": outcome, "imagegate.requested_size": requested_size}
        if result is not None:
            counted["imagegate.size"] = result.size or "below 1K"
            counted["imagegate.route"] = result.route
        self._requests.add(1, counted)
        self._request_s.record(elapsed_s, counted)
        if request is None:
            return
        span = request.span
        skipped = [str(s) for s in result.skipped] if result is not None else []
        if isinstance(error, AllRoutesFailed):
            skipped = list(error.skipped)
        ended: dict[str, Any] = {"imagegate.outcome": outcome, "imagegate.skipped": len(skipped)}
        if skipped:
            ended["imagegate.skipped_options"] = list(skipped)
        span.set_attributes(ended)
        if result is not None:
            span.set_attributes(
                {
                    "gen_ai.request.model": result.model,
                    "gen_ai.provider.name": _PROVIDER_NAMES.get(result.provider, result.provider),
                    "imagegate.route": result.route,
                    "imagegate.size": result.size or "below 1K",
                    "imagegate.downgraded": result.downgraded,
                    "imagegate.attempts": len(result.attempts),
                    "imagegate.cost_usd": usd(result.cost_usd),
                }
            )
        else:
            span.set_attribute("error.type", type(error).__name__ if error else "unknown")
            span.set_status(StatusCode.ERROR, str(error) if error else None)
        span.end(end_time=request.wall_start_ns + int(elapsed_s * 1e9))

    def _breakers(self, _options: Any) -> Iterable[Any]:
        for router in list(self._routers):
            for health in router.health():
                yield metrics.Observation(
                    _BREAKER_LEVELS.get(health.breaker, 2),
                    {"imagegate.route": health.route, "imagegate.size": health.size},
                )

    def _quotas(self, _options: Any) -> Iterable[Any]:
        for router in list(self._routers):
            seen = set()
            for health in router.health():
                quota = health.quota
                if quota is None or quota.requests_now is None or health.route in seen:
                    continue
                seen.add(health.route)
                yield metrics.Observation(quota.requests_now, {"imagegate.route": health.route})


class _Lookup:
    """Whether the application has set a global provider, by ``check``: looked up at most
    once a second until it has (a look-up reads the environment, ~1 µs), then true for
    good, as OpenTelemetry's global providers are set only once."""

    __slots__ = ("again", "check", "found")

    def __init__(self, check: Callable[[], bool]) -> None:
        self.check = check
        self.found = False
        self.again = 0.0  # monotonic time of the next look-up

    def __call__(self) -> bool:
        if self.found:
            return True
        now = time.monotonic()
        if now < self.again:
            return False
        self.again = now + _LOOK_AGAIN_S
        self.found = self.check()
        return self.found


def _traced() -> bool:
    """Whether the application has set a tracer provider."""
    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def _metered() -> bool:
    """Whether the application has set a meter provider."""
    if _PROXY_METER_PROVIDER is None:  # pragma: no cover - cannot tell: report
        return True
    return not isinstance(metrics.get_meter_provider(), _PROXY_METER_PROVIDER)


def _disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


telemetry: Telemetry | None = Telemetry() if trace is not None and not _disabled() else None
"""The process's `Telemetry`: None without ``opentelemetry-api``, or with
``OTEL_SDK_DISABLED=true`` (OpenTelemetry's own switch), when imagegate reports nothing."""

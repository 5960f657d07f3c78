"""`Router`: plans, runs and records one request across routes and sizes.

This is the skeleton of DESIGN §6: it walks the ladder from `imagegate._plan` one option
at a time, gives every attempt a clock-driven timeout inside the request's deadline,
records every attempt, and answers with the first acceptable image or `AllRoutesFailed`.
Retries, breakers, rate limits, hedging and budgets plug in around `_attempt` and
`_next_options` (the resilience engine).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from types import TracebackType
from typing import Any

import anyio

from imagegate._logging import get_logger
from imagegate._plan import Option, build_plan
from imagegate._provider import Capabilities, Provider, ProviderRequest, ProviderResponse
from imagegate._request import ImageRequest, Size, size_rank
from imagegate._result import Attempt, ImageResult, Outcome
from imagegate._route import Route
from imagegate.errors import (
    AllRoutesFailed,
    ConfigurationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
    ProviderError,
    UpstreamError,
)
from imagegate.providers import registry as default_registry
from imagegate.providers._registry import Registry
from imagegate.resilience.clock import Clock, LoopClock, move_on_after

__all__ = ["Router"]

# No attempt starts with less than this much of the deadline left: it could not finish.
_MIN_ATTEMPT_S = 0.001


class Router:
    """Routes image requests across providers until one delivers.

    Use as an async context manager: entering builds every route's provider, leaving
    closes them.

    Args:
        routes: The routes, primaries in priority order; ``backup=True`` ones go last.
        clock: Where time comes from (default: the event loop's clock).
        attempt_timeout_s: The longest a single attempt may take (the request deadline
            may cut it shorter). None: only the deadline limits it.
        registry: Where provider names are looked up (default: the shared registry).

    Raises:
        ConfigurationError: no routes, or two routes with the same name.
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        clock: Clock | None = None,
        attempt_timeout_s: float | None = None,
        registry: Registry | None = None,
    ) -> None:
        routes = tuple(routes)
        if not routes:
            raise ConfigurationError("Router needs at least one route")
        names = [r.name for r in routes]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(
                f"route names must be unique; repeated: {', '.join(duplicates)} "
                "(give one of them name=...)"
            )
        if attempt_timeout_s is not None and attempt_timeout_s <= 0:
            raise ConfigurationError("attempt_timeout_s must be positive")
        self.routes = routes
        self.clock: Clock = clock or LoopClock()
        self.attempt_timeout_s = attempt_timeout_s
        self._registry = registry or default_registry
        self._providers: list[Provider] = []
        self._capabilities: list[Capabilities] = []
        self._owned: list[Provider] = []
        self._open = False
        self._log = get_logger("imagegate.router")

    async def __aenter__(self) -> Router:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Build each route's provider (``async with router`` does this for you)."""
        if self._open:
            return
        try:
            for route in self.routes:
                if route.instance is not None:
                    provider = route.instance
                else:
                    provider = self._registry.create(route.provider, route.config)
                    self._owned.append(provider)
                self._providers.append(provider)
                self._capabilities.append(provider.capabilities(route.model))
        except BaseException:
            await self.aclose()
            raise
        self._open = True

    async def aclose(self) -> None:
        """Close the providers this router built. Safe to call twice."""
        owned, self._owned = self._owned, []
        self._providers.clear()
        self._capabilities.clear()
        self._open = False
        with anyio.CancelScope(shield=True):
            for provider in owned:
                await provider.aclose()

    async def generate(
        self,
        prompt: str,
        *,
        size: Size = "1K",
        aspect_ratio: str = "1:1",
        n: int = 1,
        seed: int | None = None,
        deadline: float | None = None,
        min_size: Size | None = None,
        allow_downgrade: bool = True,
        allow_backup: bool = True,
    ) -> ImageResult:
        """Generate an image, failing over across routes and sizes.

        Args:
            prompt: What to draw.
            size: The tier wanted: ``"1K"``, ``"2K"`` or ``"4K"``.
            aspect_ratio: ``"W:H"`` within 1:8 … 8:1.
            n: Images wanted (1–10).
            seed: Passed to providers that take one.
            deadline: Seconds the whole request may take, across every attempt.
            min_size: Smallest tier acceptable when downgrading.
            allow_downgrade: Try smaller tiers when the requested one fails.
            allow_backup: Use routes marked ``backup=True`` as a last resort.

        Raises:
            InvalidRequestError: the request is malformed (names the field).
            AllRoutesFailed: no option produced an image; carries every attempt.
        """
        request = ImageRequest.build(
            prompt,
            size=size,
            aspect_ratio=aspect_ratio,
            n=n,
            seed=seed,
            deadline_s=deadline,
            min_size=min_size,
            allow_downgrade=allow_downgrade,
            allow_backup=allow_backup,
        )
        return await self.run(request)

    async def run(self, request: ImageRequest) -> ImageResult:
        """Run an already validated `ImageRequest` (what `generate` does after validating)."""
        if not self._open:
            raise ConfigurationError("use the router inside 'async with router:' (or await open())")
        request_id = uuid.uuid4().hex[:16]
        log = self._log.bind(request_id=request_id)
        started = self.clock.now()
        plan = build_plan(request, self.routes, self._capabilities)
        attempts: list[Attempt] = []
        skipped = list(plan.skipped)
        dead_routes: set[int] = set()
        # The deadline is enforced per attempt: each one's timeout is at most what
        # remains, so no attempt is ever cut off without being recorded.
        for option in plan.options:
            if option.index in dead_routes:
                continue
            remaining = _remaining(request, started, self.clock.now())
            if remaining is not None and remaining < _MIN_ATTEMPT_S:
                break
            timeout_s = _min(self.attempt_timeout_s, remaining)
            attempt, response = await self._attempt(
                request, option, request_id, timeout_s, number=1, log=log
            )
            attempts.append(attempt)
            if response is not None:
                return self._result(request, option, response, attempts, started, request_id)
            error = attempt.error
            if isinstance(error, ContentBlocked) and error.stage == "prompt":
                break  # another route would be burned on the same refusal
            if isinstance(error, InvalidRequestError):
                dead_routes.add(option.index)
        reason = (
            "deadline reached"
            if _expired(request, started, self.clock.now())
            else ("every allowed option failed" if attempts else "no route can serve this request")
        )
        raise AllRoutesFailed(
            f"{reason}: {len(attempts)} attempt(s)"
            + "".join(f"; {a.route}@{a.size}: {a.error}" for a in attempts if a.error)
            + "".join(f"; skipped {s}" for s in skipped),
            attempts=attempts,
            skipped=skipped,
        )

    async def _attempt(
        self,
        request: ImageRequest,
        option: Option,
        request_id: str,
        timeout_s: float | None,
        *,
        number: int,
        log: Any,
    ) -> tuple[Attempt, ProviderResponse | None]:
        route, size = option.route, option.size
        provider = self._providers[option.index]
        call = ProviderRequest(
            prompt=request.prompt,
            model=route.model,
            size=size,
            aspect_ratio=request.aspect_ratio,
            n=request.n,
            seed=request.seed,
            timeout_s=timeout_s,
            request_id=request_id,
            options=route.options,
        )
        estimate = option.capabilities.estimate_cost_usd(size, request.n)
        log.debug("attempt.start", route=route.name, size=size, number=number, timeout_s=timeout_s)
        started = self.clock.now()
        response: ProviderResponse | None = None
        error: ImageGateError | None = None
        async with move_on_after(self.clock, timeout_s) as scope:
            try:
                response = await provider.generate(call)
            except ProviderError as exc:
                error = exc.bind(route=route.name, size=size)
            except InvalidRequestError as exc:
                error = exc
            except ImageGateError as exc:
                error = exc
            except Exception as exc:  # a buggy adapter must not take the request down
                log.error("attempt.adapter_bug", route=route.name, size=size, exc_info=exc)
                error = UpstreamError(
                    f"adapter raised {type(exc).__name__}: {exc}",
                    route=route.name,
                    size=size,
                    retryable=False,
                )
        ended = self.clock.now()
        if scope.cancelled_caught:
            error = DeadlineExceeded(
                f"attempt timed out after {timeout_s:g} s", route=route.name, size=size
            )
        if response is not None:
            response_error = _check_response(response, request, route.name, size)
            if response_error is not None:
                error, response = response_error, None
        attempt = _record(route.name, size, started, ended, response, error, estimate, number)
        log.debug(
            "attempt.end",
            route=route.name,
            size=size,
            outcome=attempt.outcome,
            error=type(error).__name__ if error else None,
            duration_s=round(attempt.duration_s, 6),
            billing=attempt.billing,
        )
        return attempt, response

    def _result(
        self,
        request: ImageRequest,
        option: Option,
        response: ProviderResponse,
        attempts: list[Attempt],
        started: float,
        request_id: str,
    ) -> ImageResult:
        delivered = response.images[0].size
        downgraded = delivered is None or size_rank(delivered) < size_rank(request.size)
        if downgraded:
            self._log.info(
                "downgrade",
                request_id=request_id,
                route=option.route.name,
                requested=request.size,
                delivered=delivered,
            )
        return ImageResult(
            images=response.images,
            route=option.route.name,
            provider=option.route.provider,
            model=option.route.model,
            requested_size=request.size,
            size=delivered,
            downgraded=downgraded,
            attempts=tuple(attempts),
            cost_usd=sum(a.cost_usd for a in attempts),
            latency_s=self.clock.now() - started,
            request_id=request_id,
            size_ignored=response.size_ignored or (delivered != option.size),
            metadata=dict(response.metadata),
        )

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"Router({state}, routes=[{', '.join(r.name for r in self.routes)}])"


def _check_response(
    response: ProviderResponse, request: ImageRequest, route: str, size: Size
) -> ProviderError | None:
    """An image too small for the request counts as a failure (it was billed)."""
    if not response.images:
        return NoImageReturned("provider answered without an image", route=route, size=size)
    delivered = response.images[0].size
    floor = request.sizes_allowed[-1]
    if delivered is None or size_rank(delivered) < size_rank(floor):
        image = response.images[0]
        return NoImageReturned(
            f"delivered {image.width}x{image.height} ({delivered or 'below 1K'}), "
            f"smaller than the smallest acceptable tier {floor}",
            route=route,
            size=size,
            retryable=False,
        )
    return None


def _record(
    route: str,
    size: Size,
    started: float,
    ended: float,
    response: ProviderResponse | None,
    error: ImageGateError | None,
    estimate: float,
    number: int,
) -> Attempt:
    if response is not None:
        cost = response.cost_usd if response.cost_usd is not None else estimate
        return Attempt(
            route, size, started, ended, "success", None, response.billing, cost,
            delivered_size=response.images[0].size, number=number,
        )  # fmt: skip
    billing = error.billing if isinstance(error, ProviderError) else "not_billed"
    outcome: Outcome = (
        "timeout" if isinstance(error, DeadlineExceeded) and error.status is None else "error"
    )
    cost = estimate if billing != "not_billed" else 0.0
    return Attempt(route, size, started, ended, outcome, error, billing, cost, number=number)


def _remaining(request: ImageRequest, started: float, now: float) -> float | None:
    if request.deadline_s is None:
        return None
    return request.deadline_s - (now - started)


def _expired(request: ImageRequest, started: float, now: float) -> bool:
    remaining = _remaining(request, started, now)
    return remaining is not None and remaining < _MIN_ATTEMPT_S


def _min(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)

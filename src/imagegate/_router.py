"""`Router`: the public entry point. It owns the providers and the shared resilience state
(breakers, rate limits, dispatcher, retry budget, ledger, outcome windows) and runs each
request with `imagegate._run.RequestRun`. Its arguments, or a configuration file, are
checked by `imagegate._settings.RouterSettings`; batches run in `imagegate._batch`.
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import os
import random
import traceback
import uuid
from collections.abc import AsyncIterator, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio

from imagegate import _otel
from imagegate._batch import BatchResult, Requests, run_many
from imagegate._config import load_settings, validate_settings
from imagegate._health import RouteHealth, route_health
from imagegate._inputs import ImageInput, read_inputs
from imagegate._logging import get_logger
from imagegate._presets import UNSET, OptionOrder, PresetName, Unset
from imagegate._provider import Provider
from imagegate._request import DEFAULT_DEADLINE_S, ImageRequest, Size
from imagegate._result import ImageResult
from imagegate._route import Route
from imagegate._run import Engine, RequestRun, Strategy
from imagegate._settings import RouterSettings
from imagegate.errors import ConfigurationError, ImageGateError
from imagegate.providers import registry as default_registry
from imagegate.providers._lifecycle import check_lifecycle, resolve_today
from imagegate.providers._registry import Registry
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerPolicy, BreakerRegistry
from imagegate.resilience.budget import RetryBudget
from imagegate.resilience.clock import Clock, LoopClock, wall_clock
from imagegate.resilience.dispatcher import Dispatcher
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ledger import CostLedger, Spend
from imagegate.resilience.load import LoadBudget
from imagegate.resilience.ratelimit import RateLimiter
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.timeouts import AttemptTimeoutPolicy
from imagegate.state import MemoryState, StateBackend

__all__ = ["BatchResult", "RouteHealth", "Router"]


class Router:
    """Routes image requests across providers and sizes until one delivers.

    Use as an async context manager: entering builds every route's provider, leaving
    closes the ones it built.

    Every request is bounded in time: its deadline, shared by every attempt, retry,
    fallback and hedge, is 600 seconds (`DEFAULT_DEADLINE_S`) unless ``generate``'s
    ``deadline`` says otherwise (None lifts it).

    Args:
        routes: The routes, primaries in priority order; ``backup=True`` ones go last.
        clock: Where time comes from (default: the event loop's clock).
        attempt_timeout_s: The longest a single attempt may take (the deadline may cut it
            shorter). None: only the deadline limits it.
        max_in_flight: Attempts in flight across all routes (per-route limits come from
            ``Route(max_concurrency=...)``).
        retry: Attempts per option and backoff; ``RetryPolicy()`` by default.
        breaker: When a (route, size) breaker opens; the preset's by default.
        preset: ``"latency"``, ``"balanced"`` or ``"quality"``: a point on the speed/size
            frontier that supplies the defaults of ``breaker``, ``hedge``, ``timeouts``,
            ``admission`` and the option order (docs/presets.md). Arguments given
            explicitly win.
        hedge: When to race a smaller image against a slow large one; None disables.
        timeouts: How long an attempt may run before it is abandoned, learned from
            recent successes and keeping time to step down; None: only
            ``attempt_timeout_s`` and the deadline limit attempts.
        admission: When an option's estimated success rate is too low to try it while
            a smaller size is allowed (cold-start throttling, collapsed sizes); None
            tries every option the breakers allow. With ``max_attempts_per_request`` it
            also keeps the average upstream attempts per request near that target.
        order: How options are tried: ``"ladder"`` (requested size, then smaller, routes
            in the strategy's order), ``"likely"`` (the same, the route expected soonest
            first within a size), ``"soonest"`` (any allowed option by expected time) or
            ``"size-then-soonest"`` (the requested size, soonest route first, then the
            next size down when no dearer and about as soon, else any option by
            expected time); the preset's by default.
        budget_usd: A cap on billed plus possibly billed cost; None records cost only.
        strategy: Order of primary routes: ``"priority"`` (as given, and within a size
            the preset's order ranks them by what it has seen), ``"cheapest"``
            (list price at the requested size), ``"fastest"`` (recent mean latency) or
            ``"weighted"`` (random, by ``Route(weight=...)``).
        state: Where breakers, rate limits and the ledger live (default: in memory).
        failover_on_blocked: Send a prompt refused for safety to the next route anyway.
        seed: Seeds the router's randomness (backoff jitter, weighted order, the sampled
            option ranking); None draws a fresh seed.
        registry: Where provider names are looked up (default: the shared registry).
        today: The date model lifecycles are judged on when the router opens: a route
            on a deprecated model warns, one on a shut-down model is refused
            (docs/catalogue.md). None: ``IMAGEGATE_TODAY``, else the current UTC date.

    Raises:
        ConfigurationError: listing every argument at fault (no routes, two routes with
            one name, a provider that is not registered or an option it does not take,
            a value out of range), by the path of its key (``routes[2].backpu``).
    """

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        clock: Clock | None = None,
        attempt_timeout_s: float | None = None,
        max_in_flight: int = 16,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | Unset | None = UNSET,
        preset: PresetName = "balanced",
        hedge: HedgePolicy | Unset | None = UNSET,
        timeouts: AttemptTimeoutPolicy | Unset | None = UNSET,
        admission: AdmissionPolicy | Unset | None = UNSET,
        order: OptionOrder | Unset = UNSET,
        budget_usd: float | None = None,
        strategy: Strategy = "priority",
        state: StateBackend | None = None,
        failover_on_blocked: bool = False,
        seed: int | None = None,
        registry: Registry | None = None,
        today: datetime.date | None = None,
    ) -> None:
        # Every argument is the `RouterSettings` field of the same name, checked there
        # as the fields of a configuration file are.
        settings = validate_settings(
            {
                "routes": routes,
                "clock": clock,
                "attempt_timeout_s": attempt_timeout_s,
                "max_in_flight": max_in_flight,
                "retry": retry,
                "breaker": breaker,
                "preset": preset,
                "hedge": hedge,
                "timeouts": timeouts,
                "admission": admission,
                "order": order,
                "budget_usd": budget_usd,
                "strategy": strategy,
                "state": state,
                "failover_on_blocked": failover_on_blocked,
                "seed": seed,
                "registry": registry,
                "today": today,
            }
        )
        self.preset: PresetName = settings.preset
        self.routes: tuple[Route, ...] = settings.routes
        self.clock: Clock = settings.clock or LoopClock()
        self.state: StateBackend = settings.state if settings.state is not None else MemoryState()
        self._registry = settings.registry or default_registry
        self._today = settings.today
        self._owned: list[Provider] = []
        self._open = False
        self._engine = _engine(settings, clock=self.clock, state=self.state)
        # Request ids: a random prefix per router, then a count (unique, and no uuid4 per
        # request): 16 hex digits for the first 4 billion requests.
        self._id_prefix = uuid.uuid4().hex[:8]
        self._ids = itertools.count(1)

    @classmethod
    def from_config(
        cls,
        source: Mapping[str, Any] | str | os.PathLike[str],
        **overrides: Any,
    ) -> Router:
        """Build a router from a TOML file or a mapping (format: docs/configuration.md).

        The file is checked as `Router`'s own arguments are, all at once: every mistake
        is reported before anything is built.

        Args:
            source: A path to a TOML file, or the same structure as a mapping.
            **overrides: `Router` arguments that win over the file (``clock=``,
                ``state=`` …).

        Raises:
            ConfigurationError: naming the file and the path of every key at fault
                (``routes[2].backpu``), with the closest known key for a misspelt one.
        """
        return cls(**load_settings(source, **overrides).arguments())

    @property
    def engine(self) -> Engine:
        """The policies and shared state requests run on (for inspection and tests)."""
        return self._engine

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
        engine = self._engine
        today = resolve_today(self._today)
        try:
            for route in self.routes:
                check_lifecycle(route.name, route.provider, route.model, today=today)
                if route.instance is not None:
                    provider = route.instance
                else:
                    config = dataclasses.replace(route.config, clock=self.clock)
                    provider = self._registry.create(route.provider, config)
                    self._owned.append(provider)
                engine.providers.append(provider)
                engine.capabilities.append(provider.capabilities(route.model))
            engine.forget_plans()
        except BaseException:
            await self.aclose()
            raise
        self._open = True
        if _otel.telemetry is not None:
            _otel.telemetry.watch(self)

    async def aclose(self) -> None:
        """Close the providers this router built. Safe to call twice."""
        owned, self._owned = self._owned, []
        for task in tuple(self._engine.abandoned):
            task.cancel()  # once more: calls that ignored it are not awaited here either
        self._engine.providers.clear()
        self._engine.capabilities.clear()
        self._engine.forget_plans()
        self._open = False
        if _otel.telemetry is not None:
            _otel.telemetry.unwatch(self)
        with anyio.CancelScope(shield=True):
            for provider in owned:
                await provider.aclose()

    async def generate(
        self,
        prompt: str,
        *,
        images: Sequence[ImageInput] = (),
        mask: ImageInput | None = None,
        size: Size = "1K",
        aspect_ratio: str | None = None,
        n: int = 1,
        seed: int | None = None,
        deadline: float | None = DEFAULT_DEADLINE_S,
        min_size: Size | None = None,
        allow_downgrade: bool = True,
        allow_backup: bool = True,
    ) -> ImageResult:
        """Generate an image, or edit the ones given, failing over across routes and sizes.

        Args:
            prompt: What to draw, or what to change.
            images: Input images to edit or take as references, in order: paths, bytes
                or `GeneratedImage` objects (``previous.image``), at most 16, read once
                and checked here (docs/editing.md). Routes whose model cannot take them
                are skipped with their reason in ``ImageResult.skipped``.
            mask: Where to edit ``images[0]``: a PNG with an alpha channel of its pixel
                size, fully transparent where the edit goes.
            size: The tier wanted: ``"1K"``, ``"2K"`` or ``"4K"``.
            aspect_ratio: ``"W:H"`` within 1:8 … 8:1. None: the first input image's
                ratio snapped to the nearest common one, or ``"1:1"`` without images.
            n: Images wanted (1–10).
            seed: Passed to providers that take one.
            deadline: Seconds the whole request may take, across every attempt: 600
                (`DEFAULT_DEADLINE_S`) by default; None for no deadline.
            min_size: Smallest tier acceptable when downgrading.
            allow_downgrade: Try smaller tiers when the requested one fails.
            allow_backup: Use routes marked ``backup=True`` as a last resort.

        Raises:
            InvalidRequestError: the request is malformed (names the field, or the input:
                ``images[2]``, ``mask``), or no route can take its input images.
            AllRoutesFailed: no option produced an image; carries every attempt.
        """
        fields: dict[str, object] = {
            "prompt": prompt,
            "size": size,
            "aspect_ratio": aspect_ratio,
            "n": n,
            "seed": seed,
            "deadline_s": deadline,
            "min_size": min_size,
            "allow_downgrade": allow_downgrade,
            "allow_backup": allow_backup,
        }
        if images or mask is not None:
            read = await read_inputs(images, mask)
            fields["images"], fields["mask"] = read.images, read.mask
        request = ImageRequest._from_fields(fields)
        try:  # `run`, awaited here: one frame less on every resumption of the request
            return await self._execute(request)
        except ImageGateError as exc:
            traceback.clear_frames(exc.__traceback__)  # see `run`
            raise

    async def run(self, request: ImageRequest) -> ImageResult:
        """Run an already validated `ImageRequest` (what `generate` does after validating)."""
        try:
            return await self._execute(request)
        except ImageGateError as exc:
            # The run's finished frames in the traceback hold the run, which holds the
            # error (its attempts' records): without their locals, reference counting
            # frees the request as the error is dropped, with no cycle left to collect.
            traceback.clear_frames(exc.__traceback__)
            raise

    def _execute(self, request: ImageRequest) -> Coroutine[Any, Any, ImageResult]:
        """``request``'s run, to await (refused at once outside ``async with``)."""
        if not self._open:
            raise ConfigurationError("use the router inside 'async with router:' (or await open())")
        request_id = f"{self._id_prefix}{next(self._ids):08x}"
        return RequestRun(self._engine, request, request_id).execute()

    def generate_many(
        self,
        requests: Requests,
        *,
        concurrency: int = 8,
    ) -> AsyncIterator[BatchResult]:
        """Run many requests, yielding each answer as it completes.

        Every input yields exactly one `BatchResult` (its result or its error, with its
        index); nothing is lost or duplicated. At most ``concurrency`` requests run at
        once. Breaking out of the loop, or cancelling it, cancels what is still running;
        wrap it in ``contextlib.aclosing`` to have that happen at once rather than when
        the generator is collected.

        Args:
            requests: `ImageRequest` objects, prompts, or mappings of `generate` arguments
                (``images`` and ``mask`` among them; files are read in a worker thread),
                from any iterable or async iterable, pulled only as requests finish (a
                generator of millions is never held in memory). For a batch that must
                survive a crash, see `imagegate.batch.run`.
            concurrency: Requests in flight at once.
        """
        return run_many(self.run, requests, concurrency=concurrency)

    def health(self) -> list[RouteHealth]:
        """Per (route, size) the route can serve: breaker, success rate, latency, quota."""
        degraded = bool(getattr(self.state, "degraded", False))
        return route_health(self._engine, self.routes, opened=self._open, degraded=degraded)

    def spend(self) -> Spend:
        """What requests through this router cost: billed, possibly billed, by route."""
        return self._engine.ledger.spend()

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"Router({state}, routes=[{', '.join(r.name for r in self.routes)}])"


def _engine(settings: RouterSettings, *, clock: Clock, state: StateBackend) -> Engine:
    """The policies and shared state requests run on, from checked settings."""
    routes = settings.routes
    policies = settings.policies()
    hedge, admission = policies.hedge, policies.admission
    rng = random.Random(settings.seed)
    load = admission.max_attempts_per_request if admission is not None else None
    wall = wall_clock(clock)  # quota days end with the clock's days, simulated or real
    return Engine(
        routes=routes,
        providers=[],
        capabilities=[],
        clock=clock,
        retry=settings.retry or RetryPolicy(rng=rng),
        budget=RetryBudget(
            max_extra_load=hedge.max_extra_load if hedge is not None else 0.1, clock=clock
        ),
        breakers=BreakerRegistry(policies.breaker, clock=clock, backend=state, wall_now=wall),
        dispatcher=Dispatcher(
            max_in_flight=settings.max_in_flight,
            route_limits={r.name: r.max_concurrency for r in routes if r.max_concurrency},
            clock=clock,
        ),
        limiters=[
            RateLimiter(r.quota_key, r.rate_limit, clock=clock, backend=state, wall_now=wall)
            if r.rate_limit is not None
            else None
            for r in routes
        ],
        ledger=CostLedger(limit_usd=settings.budget_usd, clock=clock, backend=state),
        hedge=hedge,
        timeouts=policies.timeouts,
        admission=admission,
        order=policies.order,
        strategy=settings.strategy,
        attempt_timeout_s=settings.attempt_timeout_s,
        failover_on_blocked=settings.failover_on_blocked,
        log=get_logger("imagegate.router"),
        rng=rng,
        load=LoadBudget(load) if load is not None else None,
        state=state,
    )

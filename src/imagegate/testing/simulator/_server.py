"""`Simulator`: the aiohttp server that hosts every simulated provider on one port."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from imagegate.resilience.clock import ScaledClock
from imagegate.testing._images import Payload
from imagegate.testing.simulator._aggregator import add_aggregator_routes
from imagegate.testing.simulator._batch_jobs import BatchJobs
from imagegate.testing.simulator._billing import SimCharge, charges
from imagegate.testing.simulator._core import SimContext
from imagegate.testing.simulator._events import SimEvent
from imagegate.testing.simulator._flux import FluxState, add_flux_routes
from imagegate.testing.simulator._google import add_google_routes
from imagegate.testing.simulator._google_batch import add_google_batch_routes
from imagegate.testing.simulator._openai import add_openai_routes
from imagegate.testing.simulator._scenario import PROVIDERS, Scenario, load_scenario
from imagegate.testing.simulator._world import World

__all__ = ["SimStatistics", "Simulator", "describe_simulator", "serve_forever"]

_PATHS: Final = {
    "gemini": "/gemini",
    "vertex": "/vertex",
    "openai": "/openai/v1",
    "openai_compatible": "/openai_compatible/v1",
    "flux": "/flux",
}


@dataclass(frozen=True, slots=True)
class SimStatistics:
    """A snapshot of the server.

    Attributes:
        in_flight: HTTP requests being handled right now.
        open_connections: Client connections the server holds open (keep-alive included).
        requests: HTTP requests received so far (polls and downloads included).
        attempts: Upstream attempts logged so far (``len(sim.events)``).
        active_flux_tasks: Flux tasks submitted and not yet finished.
    """

    in_flight: int
    open_connections: int
    requests: int
    attempts: int
    active_flux_tasks: int


class Simulator:
    """A local server that speaks the five providers' protocols, with seeded faults.

    Use it as an async context manager; it listens on ``host:port`` (port 0 picks a free
    one) until the block ends::

        async with Simulator(scenario="outage-2026-01-21", seed=0, time_scale=0.001) as sim:
            client = genai.Client(
                api_key=sim.api_key("gemini"),
                http_options=types.HttpOptions(base_url=sim.base_url("gemini")),
            )

    Args:
        scenario: A built-in name, a path to a TOML file, a mapping or a `Scenario`.
        seed: Selects one of the scenario's equally likely worlds.
        time_scale: Real seconds per simulated second (``0.001``: a 600 s deadline lasts
            0.6 s); all latencies, deadlines and quota windows scale together.
        port: TCP port; 0 picks a free one.
        host: Interface to listen on.
        payload: ``"small"`` images (kilobytes) or ``"realistic"`` byte sizes.
    """

    __slots__ = ("_batches", "_ctx", "_flux", "_host", "_port", "_runner", "_site")

    def __init__(
        self,
        scenario: str | Path | Mapping[str, Any] | Scenario = "healthy",
        *,
        seed: int = 0,
        time_scale: float = 0.001,
        port: int = 0,
        host: str = "127.0.0.1",
        payload: Payload = "small",
    ) -> None:
        world = World(load_scenario(scenario), seed=seed)
        keys: dict[str, str] = {
            provider: f"sim-{provider.replace('_', '-')}-key" for provider in PROVIDERS
        }
        self._ctx = SimContext(
            world=world,
            # Its wall time is the scenario's: second 0 stands for ``Scenario.start``.
            clock=ScaledClock(time_scale, start=world.scenario.start),
            payload=payload,
            keys=keys,
        )
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._flux: FluxState | None = None
        self._batches: BatchJobs | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening (what ``async with`` does)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        ctx = self._ctx
        app = web.Application(middlewares=[self._count], client_max_size=64 * 1024 * 1024)
        self._batches = add_google_batch_routes(app, ctx)  # before generateContent's
        add_google_routes(app, ctx)
        add_openai_routes(app, ctx)
        add_aggregator_routes(app, ctx)
        self._flux = add_flux_routes(app, ctx)
        # handler_cancellation: a client that goes away cancels its handler, like a real
        # server stops streaming to a closed socket; the attempt is logged "disconnected".
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner, self._site = runner, site
        self._port = runner.addresses[0][1]
        ctx.base = f"http://{_url_host(self._host)}:{self._port}"
        ctx.clock.now()  # simulated second 0 is when the server starts

    async def aclose(self) -> None:
        """Stop listening and close every connection."""
        runner, self._runner, self._site = self._runner, None, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    @web.middleware
    async def _count(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        ctx = self._ctx
        ctx.requests += 1
        ctx.in_flight += 1
        try:
            return await handler(request)
        finally:
            ctx.in_flight -= 1

    # -- what clients need -------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        if not self._ctx.base:
            raise RuntimeError("the simulator is not running: use `async with Simulator()`")
        return self._ctx.base

    @property
    def port(self) -> int:
        """The port it listens on (known once started)."""
        return self._port

    def base_url(self, provider: str) -> str:
        """The base URL to give the provider's SDK or imagegate adapter.

        ``gemini`` and ``vertex``: google-genai ``HttpOptions(base_url=...)``; ``openai``
        and ``openai_compatible``: ``AsyncOpenAI(base_url=...)`` (ends in ``/v1``);
        ``flux``: the BFL API root (submit to ``{base}/v1/{model}``).
        """
        if provider not in _PATHS:
            raise ValueError(f"unknown provider {provider!r}; one of {', '.join(_PATHS)}")
        return self.url + _PATHS[provider]

    def api_key(self, provider: str) -> str:
        """The key the simulator accepts for ``provider`` (Vertex: also the OAuth token)."""
        if provider not in self._ctx.keys:
            raise ValueError(f"unknown provider {provider!r}; one of {', '.join(_PATHS)}")
        return self._ctx.keys[provider]

    @property
    def events(self) -> list[SimEvent]:
        """Every upstream attempt so far, in start order (a snapshot); the items of
        Gemini Batch API jobs that have ended are among them (``batch=True``)."""
        if self._batches is not None:
            self._batches.settle_all()
        return self._ctx.log.snapshot()

    def charges(self) -> list[SimCharge]:
        """The bill so far: one `SimCharge` per billed event, batch items at half the
        profile's ``price_usd`` (see `imagegate.testing.simulator._billing`)."""
        return charges(self.events, self.scenario)

    def clear_events(self) -> None:
        """Forget the event log and the attempt counters (quotas and tasks stay)."""
        self._ctx.log.clear()

    @property
    def clock(self) -> ScaledClock:
        """The simulated clock; share it with a router so both read the same time (its
        ``wall()`` is the scenario's ``start`` plus the simulated seconds)."""
        return self._ctx.clock

    @property
    def world(self) -> World:
        """The oracle: ``sim.world.plan(prompt=..., provider=..., ...)``."""
        return self._ctx.world

    @property
    def scenario(self) -> Scenario:
        """The scenario being played."""
        return self._ctx.world.scenario

    @property
    def time_scale(self) -> float:
        """Real seconds per simulated second."""
        return self._ctx.clock.scale

    def statistics(self) -> SimStatistics:
        """In-flight requests, open connections and counters, right now."""
        runner = self._runner
        connections = len(runner.server.connections) if runner and runner.server else 0
        return SimStatistics(
            in_flight=self._ctx.in_flight,
            open_connections=connections,
            requests=self._ctx.requests,
            attempts=len(self._ctx.log),
            active_flux_tasks=self._flux.active(self._ctx.clock.now()) if self._flux else 0,
        )

    async def wait_idle(self, *, timeout_s: float = 2.0) -> SimStatistics:
        """Wait (real seconds, at most ``timeout_s``) until no request is in flight and no
        connection is open, and return the statistics then (idle or not)."""
        loop = asyncio.get_running_loop()
        give_up = loop.time() + timeout_s
        while True:
            stats = self.statistics()
            if (stats.in_flight == 0 and stats.open_connections == 0) or loop.time() > give_up:
                return stats
            await asyncio.sleep(0.002)

    def __repr__(self) -> str:
        state = f"{self._ctx.base}" if self._ctx.base else "not running"
        return (
            f"Simulator(scenario={self.scenario.name!r}, seed={self.world.seed}, "
            f"time_scale={self.time_scale!r}, {state}, events={len(self._ctx.log)})"
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def describe_simulator(sim: Simulator) -> str:
    """The base URLs, keys and environment variables to point clients at ``sim``."""
    lines = [
        f"imagegate simulator on {sim.url}: scenario {sim.scenario.name!r}, "
        f"seed {sim.world.seed}, time scale {sim.time_scale:g} real s per simulated s",
        "",
        "provider            base_url                                          api key",
    ]
    for provider in _PATHS:
        lines.append(f"{provider:<19} {sim.base_url(provider):<49} {sim.api_key(provider)}")
    lines += [
        "",
        "Environment for the official SDKs and imagegate:",
        f"  export GEMINI_API_KEY={sim.api_key('gemini')}",
        f"  export GOOGLE_GEMINI_BASE_URL={sim.base_url('gemini')}",
        f"  export GOOGLE_VERTEX_BASE_URL={sim.base_url('vertex')}",
        "  export GOOGLE_CLOUD_PROJECT=sim-project GOOGLE_CLOUD_LOCATION=global",
        f"  export OPENAI_API_KEY={sim.api_key('openai')}",
        f"  export OPENAI_BASE_URL={sim.base_url('openai')}",
        f"  export OPENAI_COMPATIBLE_API_KEY={sim.api_key('openai_compatible')}",
        f"  export OPENAI_COMPATIBLE_BASE_URL={sim.base_url('openai_compatible')}",
        f"  export BFL_API_KEY={sim.api_key('flux')}",
        f"  export BFL_BASE_URL={sim.base_url('flux')}",
        "",
        "Vertex: pass google.oauth2.credentials.Credentials(token="
        f"{sim.api_key('vertex')!r}) with a project and location, or use express mode "
        f"with api_key={sim.api_key('vertex')!r}.",
        "Force an outcome by putting a marker in the prompt, e.g. '[sim:overloaded]' or "
        "'[sim@gemini/4K:deadline*2,success]'.",
    ]
    return "\n".join(lines)


async def serve_forever(
    *,
    scenario: str | Path = "healthy",
    port: int = 8080,
    seed: int = 0,
    time_scale: float = 1.0,
    host: str = "127.0.0.1",
    payload: Payload = "small",
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run a simulator until cancelled (Ctrl-C under ``asyncio.run``).

    Once listening it passes `describe_simulator`'s text to ``announce`` (by default it
    is printed to stdout and flushed, so a pipe sees it at once).

    Raises:
        ScenarioError: the scenario cannot be loaded.
        OSError: the port cannot be bound.
    """
    async with Simulator(
        scenario, seed=seed, time_scale=time_scale, port=port, host=host, payload=payload
    ) as sim:
        text = describe_simulator(sim)
        if announce is None:
            print(text, flush=True)
        else:
            announce(text)
        await asyncio.Event().wait()

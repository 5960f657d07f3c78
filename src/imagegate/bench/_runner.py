"""Runs contenders against the simulator and computes their figures and the oracles'.

For one scenario the runner builds the request list (distinct prompts, the same for
every contender), computes both oracles from the scenario's world, then runs each
contender in turn on a **fresh simulator** with the same scenario and seed — fresh, so
each one starts with the same attempt counters and empty quotas — and the same clock::

    for contender in contenders:
        async with Simulator(scenario, seed=seed, time_scale=time_scale) as sim:
            open the contender on sim, send the requests ``concurrency`` at a time,
            each under the request deadline on sim's clock; close it; wait until the
            simulator is idle; keep its event log

The clock is virtual by default (``config.time_scale`` None): the whole run is on a
`VirtualTimeLoop` (start it with `run_virtual`), whose time moves only when every task
waits, so CPU time costs no simulated seconds and a seed always gives the same figures;
the simulator then runs at time scale 1 (one virtual second per simulated second).
Contenders run one after the other, not side by side, so that with a time scale they do
not compete for the event loop (a busy loop stretches scaled time).

**Warm-up** (with a time scale only). The first requests a process makes pay for lazy
imports, SDK clients' first calls and the simulator rendering each image once — about a
real second, which at a time scale of 0.01 is 100 simulated seconds added to whichever
contender runs first. So before the first scenario every contender runs
`WARM_UP_REQUESTS` requests on a throwaway simulator (`WARM_UP_SCENARIO`: every call
answers at once, half of them with a 503, so every tier and the backups are used);
nothing of it is measured.
"""

from __future__ import annotations

import asyncio
import gc
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final, Protocol

import anyio

from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import CONTENDERS, ORACLE, Contender
from imagegate.bench._field import FieldError
from imagegate.bench._metrics import Metrics, RequestRecord, summarize, summarize_oracle
from imagegate.bench._oracle import OracleVerdict, judge
from imagegate.bench._setup import BenchRequest, RouteSpec, make_requests, sim_env
from imagegate.bench._virtual import VirtualTimeLoop
from imagegate.errors import AllRoutesFailed, ConfigurationError
from imagegate.resilience.clock import Clock, move_on_after
from imagegate.testing.simulator import (
    PROVIDERS,
    Latency,
    Profile,
    Scenario,
    SimEvent,
    Simulator,
    World,
    load_scenario,
)

__all__ = [
    "LATENCY_ORACLE",
    "QUALITY_ORACLE",
    "ContenderRun",
    "Progress",
    "ScenarioResult",
    "add_oracles",
    "add_run",
    "drive",
    "finish_result",
    "is_finite",
    "new_result",
    "oracle_verdicts",
    "requests_for",
    "run_contender",
    "run_scenario",
    "warm_up",
]

LATENCY_ORACLE = ORACLE
QUALITY_ORACLE = f"{ORACLE}-quality"

WARM_UP_REQUESTS: Final = 16
WARM_UP_SCENARIO: Final = Scenario(
    name="warm-up",
    description="Every call answers at once; half are 503s. Not measured.",
    markers=False,
    profiles=tuple(
        Profile(
            provider=provider,
            latency_s=Latency(fixed=0),
            fail_latency_s=Latency(fixed=0),
            outcomes={"success": 1.0, "overloaded": 1.0},
        )
        for provider in PROVIDERS
    ),
)
_warmed: set[str] = set()


class Progress(Protocol):
    """Receives progress as a run goes (the demo's live display implements it)."""

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        """A contender starts its ``total`` requests."""

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        """One request ended."""

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        """A contender finished; its figures."""


class _Silent:
    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        pass

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        pass

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        pass


@dataclass(slots=True)
class ContenderRun:
    """The raw outcome of one contender's run.

    Attributes:
        name: The contender.
        records: One per request, in request order.
        wall_s: Real seconds the run took.
        events: The simulator's event log (None live).
        client_calls: Upstream calls as the contender counted them.
        notes: What the contender could not do (LiteLLM's unreachable routes …).
        time_scale: The time scale it ran at; None on virtual time.
    """

    name: str
    records: list[RequestRecord]
    wall_s: float
    events: list[SimEvent] | None
    client_calls: int
    notes: list[str] = field(default_factory=list)
    time_scale: float | None = 1.0


@dataclass(slots=True)
class ScenarioResult:
    """Everything measured in one scenario.

    Attributes:
        scenario: Its name.
        description: Its description.
        config: What was run.
        requests: The requests every contender got.
        metrics: Figures per contender, oracles included, in run order.
        runs: Raw runs per contender (oracles excluded).
        verdicts: The oracles per request.
        notes: Remarks worth printing with the figures.
    """

    scenario: str
    description: str
    config: BenchConfig
    requests: list[BenchRequest]
    metrics: dict[str, Metrics]
    runs: dict[str, ContenderRun]
    verdicts: list[OracleVerdict]
    notes: list[str] = field(default_factory=list)

    @property
    def cost_floor_usd(self) -> float | None:
        """The cheapest image any route could have delivered, averaged over the requests
        where one could (a lower bound on any client's cost per image)."""
        costs = [v.cheapest.cost_usd for v in self.verdicts if v.cheapest.ok]
        return sum(costs) / len(costs) if costs else None


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, FieldError):
        return f"{exc.kind}: {exc}"
    if isinstance(exc, AllRoutesFailed):
        return f"AllRoutesFailed {str(exc).split(':')[0]}: {exc}"[:240]
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {first}"[:240]


async def _one(contender: Contender, request: BenchRequest, clock: Clock) -> RequestRecord:
    started = clock.now()
    try:
        async with move_on_after(clock, request.deadline_s):
            delivery = await contender.generate(request)
            ended = clock.now()
            return RequestRecord(
                request.index,
                True,
                ended - started,
                delivery.image.size,
                delivery.route,
                None,
                started,
            )
    except Exception as exc:  # any way a contender gives up is a failed request
        return RequestRecord(
            request.index, False, clock.now() - started, None, None, _error_text(exc), started
        )
    return RequestRecord(
        request.index, False, clock.now() - started, None, None, "deadline: cut by the runner",
        started,
    )  # fmt: skip


async def drive(
    contender: Contender,
    requests: Sequence[BenchRequest],
    *,
    clock: Clock,
    concurrency: int,
    on_record: Progress | None = None,
    scenario: str = "",
) -> list[RequestRecord]:
    """Send ``requests`` to an opened contender, ``concurrency`` at a time.

    Every request runs under its deadline on ``clock``; a contender that raises or is cut
    off records a failure. Records come back in request order.
    """
    records: list[RequestRecord | None] = [None] * len(requests)
    pending = iter(enumerate(requests))
    progress = on_record or _Silent()

    async def worker() -> None:
        for position, request in pending:
            record = await _one(contender, request, clock)
            records[position] = record
            progress.request_done(scenario, contender.name, record)

    async with anyio.create_task_group() as tg:
        for _ in range(min(concurrency, len(requests))):
            tg.start_soon(worker)
    return [r for r in records if r is not None]


async def run_contender(
    name: str,
    scenario: str | Scenario,
    requests: Sequence[BenchRequest],
    config: BenchConfig,
    progress: Progress | None = None,
) -> ContenderRun:
    """Run one contender on a fresh simulator playing ``scenario``."""
    progress = progress or _Silent()
    if config.virtual and not isinstance(asyncio.get_running_loop(), VirtualTimeLoop):
        raise ConfigurationError(
            "bench: virtual time needs the virtual-time loop (run it with run_virtual), "
            "or give a time scale"
        )
    contender = CONTENDERS[name].factory()
    time_scale = config.scale_for(name)
    async with Simulator(scenario, seed=config.seed, time_scale=time_scale) as sim:
        env = sim_env(
            sim,
            routes=config.routes,
            seed=config.seed,
            concurrency=config.concurrency,
            deadline_s=config.deadline_s,
            size=config.size,
            aspect_ratio=config.aspect_ratio,
            virtual=config.virtual,
        )
        label = scenario if isinstance(scenario, str) else scenario.name
        progress.contender_started(label, name, len(requests))
        started = time.perf_counter()
        await contender.open(env)
        _settle_heap()
        try:
            records = await drive(
                contender,
                requests,
                clock=env.clock,
                concurrency=config.concurrency,
                on_record=progress,
                scenario=label,
            )
        finally:
            calls = contender.calls_made()
            await contender.aclose()
        wall = time.perf_counter() - started
        await sim.wait_idle(timeout_s=2.0)
        events = sim.events
    notes = [f"{name} could not use {s}" for s in getattr(contender, "skipped", ())]
    if config.time_scale is not None and time_scale != config.time_scale:
        notes.append(
            f"{name} ran at time scale {time_scale:g} (its own CPU time per call would "
            f"otherwise count as simulated seconds)"
        )
    return ContenderRun(
        name, records, wall, events, calls, notes, None if config.virtual else time_scale
    )


def _settle_heap() -> None:
    """Collect, then freeze what is alive, before a contender's timed requests.

    With the SDKs loaded the heap holds a few hundred thousand objects, and a full
    collection that strikes mid-run stalls the event loop for 100–150 ms: 10–15
    simulated seconds at time scale 0.01, landed on whichever requests are in flight.
    Frozen objects are left out of later collections, so no contender pays for the
    heap the others (or the imports) built.
    """
    gc.collect()
    gc.freeze()


def oracle_verdicts(
    config: BenchConfig, scenario: str, requests: Sequence[BenchRequest]
) -> list[OracleVerdict]:
    """The oracles for every request of ``scenario`` (pure; no server)."""
    world = World(load_scenario(scenario), seed=config.seed)
    return [judge(world, q, config.routes, max_attempts=config.oracle_attempts) for q in requests]


def requests_for(config: BenchConfig) -> list[BenchRequest]:
    """The requests every contender of a run gets."""
    return make_requests(
        config.requests,
        size=config.size,
        aspect_ratio=config.aspect_ratio,
        deadline_s=config.deadline_s,
        seed=config.seed,
        input_images=config.input_images,
    )


def add_run(result: ScenarioResult, run: ContenderRun) -> Metrics:
    """Compute a contender's figures from its run and add both to ``result``."""
    metrics = summarize(
        run.name,
        run.records,
        result.requests,
        wall_s=run.wall_s,
        events=run.events,
        price_usd=_price_lookup(result.config.routes),
        oracle=[v.latency for v in result.verdicts],
    )
    result.runs[run.name] = run
    result.metrics[run.name] = metrics
    result.notes.extend(run.notes)
    if metrics.oracle_violations:
        result.notes.append(
            f"{run.name}: {metrics.oracle_violations} request(s) faster than the latency "
            "oracle — a bug in the oracle or the simulator; please report it"
        )
    return metrics


def add_oracles(result: ScenarioResult) -> None:
    """Add both oracles' figures to ``result``."""
    verdicts, requests = result.verdicts, result.requests
    result.metrics[LATENCY_ORACLE] = summarize_oracle(
        LATENCY_ORACLE, [v.latency for v in verdicts], requests
    )
    result.metrics[QUALITY_ORACLE] = summarize_oracle(
        QUALITY_ORACLE, [v.quality for v in verdicts], requests
    )


async def warm_up(config: BenchConfig, names: Sequence[str]) -> None:
    """Run each contender not yet warmed in this process on `WARM_UP_SCENARIO` (not on
    virtual time, where a first call's imports cost no simulated time)."""
    if config.virtual:
        return
    for name in names:
        if name == ORACLE or name in _warmed:
            continue
        requests = make_requests(
            WARM_UP_REQUESTS,
            size=config.size,
            aspect_ratio=config.aspect_ratio,
            deadline_s=config.deadline_s,
            seed=-1,
        )
        await run_contender(name, WARM_UP_SCENARIO, requests, config)
        _warmed.add(name)


async def run_scenario(
    scenario: str, config: BenchConfig, progress: Progress | None = None
) -> ScenarioResult:
    """Run every contender of ``config`` on ``scenario`` and compute all figures."""
    progress = progress or _Silent()
    await warm_up(config, config.contenders)
    result = new_result(scenario, config)
    for name in config.contenders:
        if name == ORACLE:
            continue
        run = await run_contender(name, scenario, result.requests, config, progress)
        progress.contender_done(scenario, name, add_run(result, run))
    return finish_result(result)


def new_result(scenario: str, config: BenchConfig) -> ScenarioResult:
    """An empty result for ``scenario``: its requests and their oracle verdicts."""
    loaded = load_scenario(scenario)
    requests = requests_for(config)
    verdicts = oracle_verdicts(config, scenario, requests)
    return ScenarioResult(
        loaded.name, loaded.description.strip(), config, requests, {}, {}, verdicts
    )


def finish_result(result: ScenarioResult) -> ScenarioResult:
    """``result`` with the oracles' figures (when asked for) and the scenario's notes,
    once every contender's run is in."""
    if ORACLE in result.config.contenders:
        add_oracles(result)
    if any(_has_quota(p) for p in load_scenario(result.scenario).profiles):
        result.notes.append(
            "this scenario has quotas, which the oracles ignore: their bound is loose here"
        )
    return result


def _has_quota(profile: Profile) -> bool:
    return bool(profile.rpm or profile.rpd or profile.ipd or profile.ipm or profile.concurrent)


def _price_lookup(routes: Sequence[RouteSpec]) -> _Prices:
    return _Prices({(r.provider, r.model): r.price_usd for r in routes})


class _Prices:
    __slots__ = ("_table",)

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self._table = table

    def __call__(self, provider: str, model: str) -> float:
        return self._table.get((provider, model), 0.0)


def is_finite(value: float | None) -> bool:
    """True for a real number (not None, not inf)."""
    return value is not None and math.isfinite(value)

"""The contest on virtual time: every contender's run on a clock of its own, in this
process or spread over worker processes (``imagegate bench --jobs J``).

Each (seed, scenario, contender) runs on a fresh virtual-time loop whose clock starts at
0, as the simulated world does: a contender's figures then depend only on its seed, its
scenario and its configuration — not on the machine's load, and not on how long an
earlier run (LiteLLM's, which no seed fixes) left a shared clock running, which
clock-aligned state would otherwise see (breaker windows, aiohttp's timeouts rounded up
to whole seconds of the clock). So each run can go in
any process, at the same time as others, and give the figures it gives alone.
`run_contests` runs them one after the other here (``jobs=1``, with live progress), or up
to ``jobs`` at once in fresh worker processes (spawned, not forked: nothing of this
process's loop, threads or clients is copied), the slowest kinds first (LiteLLM's runs
cost the most CPU); either way it assembles each seed's results as one run would:
contenders in the order asked, then the oracles.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Final

from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import CONTENDERS, ORACLE
from imagegate.bench._deps import import_optional
from imagegate.bench._runner import (
    ContenderRun,
    Progress,
    ScenarioResult,
    add_run,
    finish_result,
    new_result,
    requests_for,
    run_contender,
    run_scenario,
)
from imagegate.bench._virtual import run_virtual
from imagegate.errors import ConfigurationError

__all__ = ["JOBS_ENV_VAR", "Job", "contests", "jobs_for", "run_contests", "run_job"]

JOBS_ENV_VAR: Final = "IMAGEGATE_BENCH_JOBS"
"""The default number of contender runs at once (``--jobs``), when set."""

_MAX_DEFAULT_JOBS: Final = 4

_FIRST: Final = ("litellm",)
"""Contenders started before the others: the longest runs, so no worker is left with one
at the end while the others idle."""


@dataclass(frozen=True, slots=True)
class Job:
    """One contender's run on one scenario, for one configuration (one seed).

    Attributes:
        config: The configuration (its seed among it).
        scenario: The scenario's name or TOML path.
        contender: The contender's name.
    """

    config: BenchConfig
    scenario: str
    contender: str


def run_job(job: Job, progress: Progress | None = None) -> ContenderRun:
    """Run ``job`` on a fresh virtual-time loop (what a worker process does)."""
    requests = requests_for(job.config)
    return run_virtual(run_contender(job.contender, job.scenario, requests, job.config, progress))


def run_contests(
    configs: Sequence[BenchConfig],
    jobs: int,
    done: Callable[[Job, ContenderRun], None] | None = None,
    progress: Progress | None = None,
) -> list[list[ScenarioResult]]:
    """Every scenario of every config (each on virtual time), up to ``jobs`` contender
    runs at once; for each config, its results in scenario order. ``done`` hears of
    each run as it ends; ``progress`` of each request (with ``jobs=1`` only)."""
    if not all(c.virtual for c in configs):
        raise ConfigurationError("a clock per contender needs virtual time (no time scale)")
    results = [
        [new_result(scenario, config) for scenario in config.scenarios] for config in configs
    ]
    work = [
        (result, Job(config, scenario, name))
        for config, per_scenario in zip(configs, results, strict=True)
        for scenario, result in zip(config.scenarios, per_scenario, strict=True)
        for name in config.contenders
        if name != ORACLE
    ]
    if jobs == 1:
        for result, job in work:
            run = run_job(job, progress)
            metrics = add_run(result, run)
            if progress is not None:
                progress.contender_done(job.scenario, job.contender, metrics)
            if done is not None:
                done(job, run)
    else:
        runs = _in_pool(work, jobs, done)
        for result, job in work:  # in the order asked, whatever order they ended in
            add_run(result, runs[id(job)])
    return [[finish_result(r) for r in per_scenario] for per_scenario in results]


def _in_pool(
    work: Sequence[tuple[ScenarioResult, Job]],
    jobs: int,
    done: Callable[[Job, ContenderRun], None] | None,
) -> dict[int, ContenderRun]:
    """Each job's run (by the job's ``id``), up to ``jobs`` at once, LiteLLM's first."""
    ordered = sorted((job for _, job in work), key=lambda j: j.contender not in _FIRST)
    runs: dict[int, ContenderRun] = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=context) as pool:
        pending = {pool.submit(run_job, job): job for job in ordered}
        for future in as_completed(pending):
            job = pending[future]
            runs[id(job)] = future.result()
            if done is not None:
                done(job, runs[id(job)])
    return runs


def jobs_for(requested: int | None, *, virtual: bool, contenders: Sequence[str] = ()) -> int:
    """How many contender runs go at once: ``requested``, else `JOBS_ENV_VAR`, else the
    CPUs (at most 4); 1 on a wall clock, where parallel runs would slow each other, and by
    default 1 when a contender was registered outside imagegate (a worker process starts
    from a fresh import, where only imagegate's own contenders are registered).

    Raises:
        ConfigurationError: more than one asked for on a wall clock, or a malformed
            `JOBS_ENV_VAR`.
    """
    if requested is not None:
        if requested > 1 and not virtual:
            raise ConfigurationError("--jobs needs virtual time (no --time-scale)")
        return requested
    if not virtual or not all(_builtin(name) for name in contenders):
        return 1
    text = os.environ.get(JOBS_ENV_VAR)
    if text is None:
        return min(os.cpu_count() or 1, _MAX_DEFAULT_JOBS)
    if not text.strip().isdigit() or int(text) < 1:
        raise ConfigurationError(f"{JOBS_ENV_VAR} must be a whole number ≥ 1")
    return int(text)


def contests(
    configs: Sequence[BenchConfig], requested_jobs: int | None, *, quiet: bool
) -> list[list[ScenarioResult]]:
    """Each config's contest, its results in scenario order: `run_contests` in worker
    processes when `jobs_for` gives more than one (a line on stderr as each run ends,
    unless ``quiet``), else one config after the other here, with live progress bars
    unless ``quiet``.

    Raises:
        ConfigurationError: as `jobs_for`.
    """
    contenders = tuple({n for c in configs for n in c.contenders})
    jobs = jobs_for(requested_jobs, virtual=all(c.virtual for c in configs), contenders=contenders)
    if jobs == 1:
        return [_contest(config, quiet=quiet) for config in configs]

    def done(job: Job, run: ContenderRun) -> None:
        if not quiet:
            print(
                f"  {job.scenario}, seed {job.config.seed}: {job.contender} "
                f"done ({len(run.records)} requests, {run.wall_s:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    return run_contests(configs, jobs, done)


def _contest(config: BenchConfig, *, quiet: bool) -> list[ScenarioResult]:
    """One config's contest in this process, with live progress bars unless ``quiet``:
    on virtual time each contender's run on a clock of its own; on a wall clock, one
    after the other on asyncio's loop."""
    if quiet:
        return _contest_with(config, None)
    from imagegate.bench._progress import BarProgress

    console = import_optional("rich.console", purpose="imagegate bench").Console(stderr=True)
    with BarProgress(console) as progress:
        return _contest_with(config, progress)


def _contest_with(config: BenchConfig, progress: Progress | None) -> list[ScenarioResult]:
    if config.virtual:
        return run_contests([config], 1, progress=progress)[0]

    async def main() -> list[ScenarioResult]:
        return [await run_scenario(s, config, progress) for s in config.scenarios]

    return asyncio.run(main())


def _builtin(name: str) -> bool:
    """Whether contender ``name`` is one of imagegate's own (or an oracle)."""
    info = CONTENDERS.get(name)
    if info is None:
        return True
    factory = getattr(info.factory, "func", info.factory)  # a functools.partial's own
    return str(getattr(factory, "__module__", "")).startswith("imagegate.")

"""``imagegate demo``: the 2026-01-21 outage, imagegate's three presets against the field.

Every client gets the same requests (4K, 600 s to deliver) against its own copy of the
embedded simulator playing the outage with the same seed, side by side, while a live
scoreboard shows what each has delivered: the field's clients (the size waterfall, the
waterfall with retries, exponential backoff, and LiteLLM's Router when it is installed)
and imagegate with each preset (``latency``, ``balanced``, ``quality``). A table in plain
words compares them with the two oracles, the closing lines say which preset beat the
waterfall on which axis, and the speed-vs-size chart is saved as a PNG. Every figure is
computed from the run.

No keys, no network, a few seconds with the defaults (20 requests, 10 at a time) on
virtual time: simulated seconds pass only while every request waits, so a seed always
gives the same figures. LiteLLM, slow to import and to call, runs in a process of its own
(`imagegate.bench._apart`) on the machine's other core.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TextIO

import anyio

from imagegate._extras import install_hint
from imagegate.bench._apart import Apart, ApartFailed
from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import ORACLE
from imagegate.bench._deps import MissingDependency, import_optional
from imagegate.bench._frontier import BASELINE, PRESETS, frontier_lines
from imagegate.bench._metrics import Metrics, RequestRecord
from imagegate.bench._progress import Scoreboard
from imagegate.bench._report import print_plain_results
from imagegate.bench._runner import (
    ContenderRun,
    ScenarioResult,
    add_oracles,
    add_run,
    oracle_verdicts,
    requests_for,
    run_contender,
    warm_up,
)
from imagegate.testing.simulator import load_scenario

__all__ = ["DEMO_CONFIG", "DEMO_CONTENDERS", "run_demo_async"]

DEMO_CONTENDERS: Final = (BASELINE, "waterfall-retry", "backoff", "litellm", *PRESETS)
"""Who plays in the demo, in the order of its tables: the field, then the presets."""

DEMO_CONFIG = BenchConfig(
    scenarios=("outage-2026-01-21",),
    requests=20,
    concurrency=10,
    time_scale=None,
    contenders=(*DEMO_CONTENDERS, ORACLE),
)
"""The demo's defaults (each can be changed on the command line)."""

_APART: Final = frozenset({"litellm"})
"""Contenders run in a process of their own (see `imagegate.bench._apart`)."""

_CAST: Final = (
    "The field: waterfall = AI Studio, 4K → 2K → 1K, 120 s timeouts (the client code "
    "people run today); waterfall-retry = the same with 3 tries per size; backoff = 5 "
    "tries at 4K; litellm = LiteLLM's Router, one group per size, falling back down them.\n"
    "imagegate, one Router per preset: latency (the first image that can come), balanced "
    "(the default: the size asked for while it can still come in time), quality (more room "
    "for the size asked for)."
)


def _contenders(config: BenchConfig) -> tuple[BenchConfig, list[str]]:
    """``config`` without the contenders whose package is missing, and why."""
    if "litellm" not in config.contenders or importlib.util.find_spec("litellm") is not None:
        return config, []
    kept = tuple(name for name in config.contenders if name != "litellm")
    note = f"LiteLLM's Router is left out, as it is not installed: {install_hint('bench')}"
    return replace(config, contenders=kept), [note]


def _pace(config: BenchConfig) -> str:
    if config.time_scale is None:
        return (
            "virtual time: a simulated minute costs only the CPU it takes, so the machine's "
            "speed does not count and a seed always gives the same figures"
        )
    return f"1 simulated second = {config.time_scale * 1000:g} ms of real time here"


def _outage(name: str) -> str:
    """``"outage-2026-01-21"`` as words: ``"the 2026-01-21 outage"``."""
    return f"the {name.removeprefix('outage-')} outage" if name.startswith("outage-") else name


class _Refreshing:
    """Passes progress to the scoreboard and redraws it (once `attach` gave it a way to),
    at most `_REDRAW_S` apart."""

    def __init__(self, board: Scoreboard) -> None:
        self._board = board
        self._redraw: Callable[[], None] = lambda: None
        self._last = 0.0

    def attach(self, redraw: Callable[[], None]) -> None:
        """Redraw with ``redraw`` from now on."""
        self._redraw = redraw

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        self._board.contender_started(scenario, contender, total)
        self._maybe_redraw()

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        self._board.request_done(scenario, contender, record)
        self._maybe_redraw()

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        self._board.contender_done(scenario, contender, metrics)

    def _maybe_redraw(self) -> None:
        now = time.perf_counter()
        if now - self._last >= _REDRAW_S:
            self._last = now
            self._redraw()


_REDRAW_S: Final = 0.125


async def run_demo_async(
    config: BenchConfig = DEMO_CONFIG,
    out: TextIO | None = None,
    *,
    plot: str | os.PathLike[str] | None = None,
) -> ScenarioResult:
    """Run the demo with a live scoreboard, then print the results and save the chart.

    Args:
        config: What to run (its first scenario; ``"oracle"`` adds both oracles).
        out: Where to print (standard output by default).
        plot: Where to save the speed-vs-size chart; None for a new
            ``imagegate-demo-*.png`` in the temporary directory.
    """
    config, notes = _contenders(config)
    scenario = config.scenarios[0]
    board = Scoreboard((config.size, *(s for s in ("4K", "2K", "1K") if s != config.size)))
    shown = _Refreshing(board)
    players = [n for n in config.contenders if n != ORACLE]
    for name in players:
        board.announce(name, config.requests, "own process" if name in _APART else "waiting")
    # The slow ones start first, in their own process, so their imports overlap the rest.
    apart = {n: Apart(n, config, shown) for n in players if n in _APART}
    try:
        return await _play(config, scenario, board, shown, apart, notes, out=out, plot=plot)
    finally:
        for child in apart.values():
            child.stop()


async def _play(
    config: BenchConfig,
    scenario: str,
    board: Scoreboard,
    shown: _Refreshing,
    apart: dict[str, Apart],
    notes: list[str],
    *,
    out: TextIO | None,
    plot: str | os.PathLike[str] | None,
) -> ScenarioResult:
    console_module = import_optional("rich.console", purpose="imagegate demo", extra="cli")
    live_module = import_optional("rich.live", purpose="imagegate demo", extra="cli")
    console = console_module.Console(file=out or sys.stdout)
    loaded = load_scenario(scenario)
    requests = requests_for(config)
    verdicts = oracle_verdicts(config, scenario, requests)
    result = ScenarioResult(
        loaded.name, loaded.description.strip(), config, requests, {}, {}, verdicts, notes
    )
    _print_intro(console, config, loaded.name, len(requests))
    here = [n for n in config.contenders if n != ORACLE and n not in apart]
    with console.status("warming up (imports, first calls; not measured)…"):
        await warm_up(config, here)
    runs: dict[str, ContenderRun] = {}
    started = time.perf_counter()

    def title() -> str:
        return f"{loaded.name}, seed {config.seed} — {time.perf_counter() - started:.1f} s"

    with live_module.Live(board.render(title()), console=console, auto_refresh=False) as live:
        shown.attach(lambda: live.update(board.render(title()), refresh=True))

        async def play(name: str) -> None:
            runs[name] = await run_contender(name, scenario, requests, config, shown)
            board.finish(name)

        # The display is redrawn as requests end (at most 8 times a real second), never
        # on a timer: a timer would be an event on the simulated clock.
        async with anyio.create_task_group() as group:
            for name in here:
                group.start_soon(play, name)
        if apart:
            _import_chart_tools()  # while the other process finishes
        for name, child in apart.items():
            try:
                runs[name] = await child.result()
                board.finish(name)
            except ApartFailed as exc:
                board.announce(name, len(requests), "could not run")
                result.notes.append(str(exc))
        live.update(board.render(title()), refresh=True)
    console.print()
    for name in config.contenders:
        if name in runs:
            add_run(result, runs[name])
    if ORACLE in config.contenders:
        add_oracles(result)
    _print_outcome(console, result, out, plot)
    return result


def _print_intro(console: Any, config: BenchConfig, scenario: str, requests: int) -> None:
    console.print(
        f"[bold]imagegate demo[/bold]: {_outage(scenario)} replayed on the embedded "
        "simulator (no keys, no network). AI Studio sheds 4K (15% succeed, the rest time "
        "out at 600 s), 2K 70%, 1K 95%; Vertex AI and an aggregator serve the same model; "
        "OpenAI and Flux are backups.\n"
        f"Every client gets the same {requests} requests for {config.size}, each with "
        f"{config.deadline_s:g} s to deliver, {config.concurrency} at a time.\n{_CAST}"
    )
    console.print(
        f"Times are simulated seconds of {_outage(scenario)} ({_pace(config)}).", style="bold"
    )


def _print_outcome(
    console: Any,
    result: ScenarioResult,
    out: TextIO | None,
    plot: str | os.PathLike[str] | None,
) -> None:
    print_plain_results(result, out=out)
    console.print()
    for line in frontier_lines(result.metrics, size=result.config.size):
        console.print(line, style="bold", markup=False)
    # Never wrapped: a path or a command is copied whole.
    console.print(_chart(result, plot), soft_wrap=True, markup=False)
    console.print(
        "Every contender on four scenarios: imagegate bench --scenario all --contenders all",
        style="dim",
        soft_wrap=True,
    )


def _import_chart_tools() -> None:
    """Import matplotlib's pyplot now, if it is installed (a second of CPU)."""
    if importlib.util.find_spec("matplotlib") is not None:
        import_optional("matplotlib.pyplot", purpose="the speed-vs-size chart")


def _chart(result: ScenarioResult, plot: str | os.PathLike[str] | None) -> str:
    """Save the speed-vs-size chart; the line that says where, or why not."""
    try:
        import_optional("matplotlib", purpose="the speed-vs-size chart")
    except MissingDependency as exc:
        return f"No speed-vs-size chart: {exc}"
    from imagegate.bench._plot import write_frontier_plot

    try:
        path = write_frontier_plot(plot if plot is not None else _temp_png(), result)
    except OSError as exc:
        return f"No speed-vs-size chart: could not write it ({exc})"
    return f"Speed-vs-size chart (time to an image against share at {result.config.size}): {path}"


def _temp_png() -> Path:
    """A new, empty ``imagegate-demo-*.png`` in the temporary directory (never one a
    link planted there points to)."""
    handle, name = tempfile.mkstemp(prefix="imagegate-demo-", suffix=".png")
    os.close(handle)
    return Path(name)

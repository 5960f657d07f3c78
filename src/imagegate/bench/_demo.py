"""``imagegate demo``: the 2026-01-21 outage, imagegate against the field's size waterfall.

Both clients get the same requests (4K, 600 s deadline) against their own copy of the
embedded simulator playing the outage with the same seed, side by side, while a live
scoreboard shows what each has delivered; at the end a table compares them with the
oracles. No keys, no network; a few seconds with the defaults (60 requests, 20 at a time,
on virtual time: simulated seconds pass only while every task waits, so a seed always
gives the same figures). Every figure is computed from the run.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from typing import Final, TextIO

import anyio

from imagegate.bench._config import BenchConfig
from imagegate.bench._deps import import_optional
from imagegate.bench._metrics import Metrics, RequestRecord
from imagegate.bench._progress import Scoreboard
from imagegate.bench._report import print_results
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

__all__ = ["DEMO_CONFIG", "run_demo_async", "verdict"]

DEMO_CONFIG = BenchConfig(
    scenarios=("outage-2026-01-21",),
    requests=60,
    concurrency=20,
    time_scale=None,
    contenders=("imagegate", "waterfall"),
)
"""The demo's defaults (each can be changed on the command line)."""


def verdict(mine: Metrics, theirs: Metrics) -> str:
    """One sentence comparing two contenders, from their figures."""

    def p95(m: Metrics) -> str:
        return "never (too many failures)" if math.isinf(m.p95_s) else f"{m.p95_s:.0f} s"

    line = (
        f"{mine.contender} delivered {mine.success_rate:.0%} of the images "
        f"({mine.at_size:.0%} at the size asked), 95% of them within {p95(mine)}; "
        f"{theirs.contender} delivered {theirs.success_rate:.0%} "
        f"({theirs.at_size:.0%} at size), 95% within {p95(theirs)}."
    )
    if math.isfinite(mine.p95_s) and math.isfinite(theirs.p95_s) and mine.p95_s > 0:
        ratio = theirs.p95_s / mine.p95_s
        if ratio >= 1.05:
            line += f" That is {ratio:.1f}× faster at the 95th percentile."
        elif ratio <= 0.95:
            line += f" {theirs.contender} was {1 / ratio:.1f}× faster at the 95th percentile."
    return line


def _pace(config: BenchConfig) -> str:
    if config.time_scale is None:
        return (
            "virtual time: they pass only while every request waits, so the speed of the "
            "machine does not count"
        )
    return f"1 s = {config.time_scale * 1000:g} ms of real time here"


class _Refreshing:
    """Passes progress to the scoreboard and redraws it, at most `_REDRAW_S` apart."""

    def __init__(self, board: Scoreboard, redraw: Callable[[], None]) -> None:
        self._board = board
        self._redraw = redraw
        self._last = 0.0

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
    config: BenchConfig = DEMO_CONFIG, out: TextIO | None = None
) -> ScenarioResult:
    """Run the demo (both clients at once) with a live scoreboard, then print the results."""
    console_module = import_optional("rich.console", purpose="imagegate demo", extra="cli")
    live_module = import_optional("rich.live", purpose="imagegate demo", extra="cli")
    console = console_module.Console(file=out or sys.stdout)
    scenario = config.scenarios[0]
    loaded = load_scenario(scenario)
    requests = requests_for(config)
    verdicts = oracle_verdicts(config, scenario, requests)
    result = ScenarioResult(
        loaded.name, loaded.description.strip(), config, requests, {}, {}, verdicts
    )
    console.print(
        f"[bold]imagegate demo[/bold]: the {loaded.name} outage on the embedded simulator — "
        f"AI Studio sheds 4K (15% succeed, the rest time out at 600 s), 2K 70%, 1K 95%; "
        f"Vertex and an aggregator serve the same model, OpenAI and Flux are backups.\n"
        f"{len(requests)} requests for 4K with a 600 s deadline, {config.concurrency} at a "
        f"time; times are simulated seconds ({_pace(config)}).\n"
        "waterfall = the client code the write-ups recommend (AI Studio, 4K → 2K → 1K, "
        "120 s timeouts)."
    )
    with console.status("warming up (imports, first calls; not measured)…"):
        await warm_up(config, config.contenders)
    board = Scoreboard()
    runs: dict[str, ContenderRun] = {}
    started = time.perf_counter()

    def title() -> str:
        return f"{loaded.name}, seed {config.seed} — {time.perf_counter() - started:.1f} s"

    with live_module.Live(board.render(title()), console=console, auto_refresh=False) as live:
        shown = _Refreshing(board, lambda: live.update(board.render(title()), refresh=True))

        async def play(name: str) -> None:
            runs[name] = await run_contender(name, scenario, requests, config, shown)

        # The display is redrawn as requests end (at most 8 times a real second), never
        # on a timer: a timer would be an event on the simulated clock.
        async with anyio.create_task_group() as players:
            for name in config.contenders:
                players.start_soon(play, name)
        live.update(board.render(title()), refresh=True)
    console.print()
    for name in config.contenders:
        board.contender_done(scenario, name, add_run(result, runs[name]))
    add_oracles(result)
    print_results([result], out=out, targets=False)
    mine, theirs = (result.metrics.get(n) for n in ("imagegate", "waterfall"))
    if mine is not None and theirs is not None:
        console.print(verdict(mine, theirs), style="bold")
    console.print(
        "Full benchmark (every peer, four scenarios): imagegate bench --scenario all",
        style="dim",
    )
    return result

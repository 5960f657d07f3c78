"""``imagegate batch requests.jsonl --out DIR``: `run` from the command line.

Progress goes to standard error: on a terminal one line rewritten in place, otherwise a
plain line every few seconds; then a summary. With ``--until`` (an ISO-8601 time or a
duration such as ``36h``), items that fail only for a spent quota or an outage wait,
parked, until then. Exit status 0 when every item delivered, 1 when any failed (or was
held for a later run), 2 when the batch could not run (no such file, a corrupt journal),
130 when interrupted (run the same command again to resume).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from imagegate._router import Router
from imagegate.batch._gemini_cli import add_batch_api_options, batch_api_results
from imagegate.batch._items import BatchItem, read_requests
from imagegate.batch._journal import RESULTS
from imagegate.batch._progress import Progress, in_words
from imagegate.batch._run import run
from imagegate.batch._tally import Tally
from imagegate.batch._until import parse_until
from imagegate.errors import ConfigurationError, ImageGateError
from imagegate.resilience.clock import Clock

if TYPE_CHECKING:
    from imagegate.testing.simulator import Simulator

__all__ = ["add_batch_command"]

SIM_ATTEMPTS = "simulated-attempts.jsonl"
"""With ``--simulate``: the simulator's record of every upstream attempt, with its run."""

_SIM_ROUTES_DATE = datetime.date(2026, 5, 1)
_PLAIN_EVERY_S = 5.0
_TTY_EVERY_S = 0.2


class _Display:
    """The progress line: rewritten in place on a terminal, else every few seconds."""

    __slots__ = ("_clock", "_last", "_out", "_started", "_total", "_tty", "progress")

    def __init__(
        self, progress: Progress, total: int, out: TextIO, clock: Clock | None = None
    ) -> None:
        self.progress = progress
        self._clock = clock
        self._total = total
        self._out = out
        self._tty = out.isatty()
        self._started = self._last = time.monotonic()

    def update(self, *, final: bool = False) -> None:
        now = time.monotonic()
        if not final and now - self._last < (_TTY_EVERY_S if self._tty else _PLAIN_EVERY_S):
            return
        self._last = now
        line = self._line(now)
        if self._tty:
            print(f"\r\x1b[2K{line}", end="\n" if final else "", file=self._out, flush=True)
        elif not final:
            print(line, file=self._out, flush=True)

    def _line(self, now: float) -> str:
        p = self.progress
        finished = p.done + p.failed
        ran = finished - p.resumed
        eta = "—"
        left = self._total - finished
        if ran and left > 0:
            eta = f"{(now - self._started) / ran * left:.0f} s"
        parked = ""
        if p.parked:
            parked = f", {p.parked} parked"
            if self._clock is not None and p.next_wake is not None:
                parked += f" (next try in {in_words(p.next_wake - self._clock.now())})"
        return (
            f"batch: {p.done} done, {p.failed} failed, {p.in_flight} in flight{parked} of "
            f"{self._total}; ${p.cost_usd:.2f} this run; ETA {eta}"
        )


class _SimRecord:
    """With ``--simulate``: appends each upstream attempt the simulator has ended to
    ``simulated-attempts.jsonl``, with this run's number, so a rehearsal's cost can be
    audited across runs (a kill loses the attempts of its last second or so)."""

    __slots__ = ("_done", "_file", "_flushed", "_low", "_sim")

    def __init__(self, sim: Simulator, folder: Path) -> None:
        self._sim = sim
        folder.mkdir(parents=True, exist_ok=True)
        self._file = (folder / SIM_ATTEMPTS).open("a", encoding="utf-8")
        self._low = 0
        self._done: set[int] = set()
        self._flushed = time.monotonic()

    def tick(self, run: int) -> None:
        """`flush`, at most once a second."""
        if time.monotonic() - self._flushed >= 1.0:
            self.flush(run)

    def flush(self, run: int) -> None:
        """Append the attempts ended since the last flush."""
        self._flushed = time.monotonic()
        events = self._sim.events
        for index in range(self._low, len(events)):
            event = events[index]
            if index in self._done or event.ended is None:
                continue
            self._done.add(index)
            record = {"run": run, "provider": event.provider, "model": event.model}
            record.update(size=event.size, prompt=event.prompt, outcome=event.outcome)
            record.update(billed=event.billed, batch=event.batch)
            self._file.write(json.dumps(record) + "\n")
        while self._low in self._done:
            self._done.discard(self._low)
            self._low += 1
        self._file.flush()

    def close(self, run: int) -> None:
        """Flush and close."""
        self.flush(run)
        self._file.close()


@asynccontextmanager
async def _router(args: argparse.Namespace) -> AsyncIterator[tuple[Router, Simulator | None]]:
    """The router the batch runs on: ``--config``'s, on the embedded simulator's routes
    and clock with ``--simulate``."""
    overrides: dict[str, Any] = {}
    if args.budget_usd is not None:
        overrides["budget_usd"] = args.budget_usd
    if args.simulate is None:
        if args.config is None:
            raise ConfigurationError("give --config FILE (the routes), or --simulate SCENARIO")
        async with Router.from_config(args.config, **overrides) as router:
            yield router, None
        return
    from imagegate.bench._setup import sim_env
    from imagegate.testing.simulator import Simulator

    async with Simulator(args.simulate, time_scale=args.time_scale) as sim:
        # The simulator's route set recreates the 2026 outages with the models of the time
        # (gpt-image-1.5 was shut down on 2026-12-01): judge their lifecycle then.
        routes = sim_env(sim).imagegate_routes()
        overrides.update(routes=routes, clock=sim.clock, today=_SIM_ROUTES_DATE)
        if args.config is None:
            router = Router(**overrides)
        else:
            router = Router.from_config(args.config, **overrides)
        async with router:
            yield router, sim


def _items(args: argparse.Namespace) -> Iterator[BatchItem]:
    """The input's items, each given ``--deadline-per-item`` unless it names a deadline."""
    for item in read_requests(args.requests):
        if args.deadline_per_item is not None and item.error is None:
            arguments = item.arguments
            if "deadline" not in arguments and "deadline_s" not in arguments:
                item = BatchItem(item.id, {**arguments, "deadline": args.deadline_per_item})
        yield item


async def _batch(args: argparse.Namespace, out: TextIO) -> int:
    if args.concurrency < 1:
        raise ConfigurationError("--concurrency must be at least 1")
    with args.requests.open("rb") as lines:
        total = sum(1 for line in lines if line.strip())
    progress, tally = Progress(), Tally()
    async with _router(args) as (router, sim):
        display = _Display(progress, total, out, router.clock)
        # Built here, outside the task group: a bad --batch-api is an error, not a crash.
        batch_api = batch_api_results(args, router, progress) if args.batch_api else None
        record = _SimRecord(sim, args.out) if sim is not None else None
        try:
            async with anyio.create_task_group() as ticker:
                ticker.start_soon(_tick, display, record, progress)
                results = run(
                    router,
                    _items(args),
                    args.out,
                    concurrency=args.concurrency,
                    retry_failed=args.retry_failed,
                    progress=progress,
                    until=args.until,
                )
                if batch_api is not None:  # it hands `run` what its jobs do not deliver
                    results = batch_api(_items(args))
                async with aclosing(results):
                    async for result in results:
                        tally.add(result)
                        display.update()
                ticker.cancel_scope.cancel()
        finally:
            if record is not None:
                record.close(progress.run)
    display.update(final=True)
    _summary(progress, args.out, out)
    tally.print(out)
    return 1 if progress.failed or progress.held else 0


async def _tick(display: _Display, record: _SimRecord | None, progress: Progress) -> None:
    """Redraw the progress line (and keep the simulator's record) while nothing ends."""
    while True:
        await anyio.sleep(_TTY_EVERY_S)
        display.update()
        if record is not None:
            record.tick(progress.run)


def _summary(progress: Progress, folder: Path, out: TextIO) -> None:
    p = progress
    if p.torn is not None:
        print(
            f"batch: the journal's last line was torn (a crash mid-write) and cut off: "
            f"{p.torn[:80]!r}",
            file=out,
        )
    earlier = f" ({p.resumed} finished by earlier runs)" if p.resumed else ""
    again = f"; {p.interrupted} cut off earlier and run again" if p.interrupted else ""
    if p.parked_earlier:
        again += f"; {p.parked_earlier} left parked earlier and run again"
    if p.expired:
        again += f"; {p.expired} failed still parked at --until"
    if p.held:
        again += f"; {p.held} held for a later run (their Batch API job may exist)"
    print(
        f"batch run {p.run}: {p.done} delivered, {p.failed} failed{earlier}{again}; "
        f"${p.cost_usd:.2f} this run; results in {folder / RESULTS}",
        file=out,
    )


def _cmd_batch(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_batch(args, sys.stderr))
    except KeyboardInterrupt:
        print("\nbatch: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except (ImageGateError, OSError, ValueError) as exc:  # ValueError: unknown scenario
        print(f"imagegate batch: {exc}", file=sys.stderr)
        return 2


def add_batch_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``imagegate batch REQUESTS.jsonl --out DIR [...]``."""
    batch = commands.add_parser(
        "batch", help="run a JSONL file of requests, resumably (re-run the command to resume)"
    )
    batch.add_argument("requests", type=Path, help="one JSON object a line: id, prompt, …")
    batch.add_argument("--out", type=Path, required=True, help="images, results and journal")
    batch.add_argument("--config", type=Path, default=None, help="router TOML file")
    batch.add_argument("--concurrency", type=int, default=8, help="items at once (default 8)")
    batch.add_argument("--budget-usd", type=float, default=None, help="this run's spend cap")
    batch.add_argument(
        "--deadline-per-item", type=float, default=None, metavar="S",
        help="seconds each item may take, unless its line names a deadline",
    )  # fmt: skip
    batch.add_argument(
        "--retry-failed", action="store_true", help="run items that failed before again"
    )
    batch.add_argument(
        "--until", type=parse_until, default=None, metavar="TIME",
        help="park items that fail for a spent quota or an outage, and retry them when "
        "the quota resets or the outage ends, until TIME (ISO 8601) or for a duration "
        "(36h, 1d12h); without it they fail at once",
    )  # fmt: skip
    batch.add_argument(
        "--simulate", metavar="SCENARIO", default=None,
        help="run against the embedded simulator (healthy, outage-2026-01-21, …): no keys",
    )  # fmt: skip
    batch.add_argument(
        "--time-scale", type=float, default=0.1,
        help="with --simulate: real seconds per simulated second (default 0.1)",
    )  # fmt: skip
    add_batch_api_options(batch)
    batch.set_defaults(func=_cmd_batch)

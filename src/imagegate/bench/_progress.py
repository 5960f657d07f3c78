"""Live displays: progress bars for ``imagegate bench``, a scoreboard for the demo.

Both implement the runner's `Progress` protocol with rich. `Scoreboard` keeps, per
contender, what the requests that have ended so far delivered and how fast, and renders
it as a narrow table (one line per contender, under 80 columns for seven of them) that
the demo redraws several times a second.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from imagegate.bench._deps import import_optional
from imagegate.bench._metrics import Metrics, RequestRecord, percentile

__all__ = ["BarProgress", "Scoreboard"]


class BarProgress:
    """One rich progress bar per (scenario, contender), for ``imagegate bench``.

    Args:
        console: A ``rich.console.Console`` to draw on.
    """

    def __init__(self, console: Any) -> None:
        progress_module = import_optional("rich.progress", purpose="the progress display")
        self._progress = progress_module.Progress(
            progress_module.TextColumn("{task.description}"),
            progress_module.BarColumn(),
            progress_module.MofNCompleteColumn(),
            progress_module.TextColumn("{task.fields[status]}"),
            progress_module.TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[tuple[str, str], Any] = {}
        self._ok: Counter[tuple[str, str]] = Counter()

    def __enter__(self) -> BarProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.__exit__(*exc)

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        """Add a bar."""
        self._tasks[(scenario, contender)] = self._progress.add_task(
            f"{scenario:<18} {contender:<16}", total=total, status=""
        )

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        """Advance the bar."""
        key = (scenario, contender)
        self._ok[key] += record.ok
        self._progress.update(self._tasks[key], advance=1, status=f"{self._ok[key]} delivered")

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        """Show the headline figures on the finished bar."""
        p95 = "∞" if math.isinf(metrics.p95_s) else f"{metrics.p95_s:.0f} s"
        self._progress.update(
            self._tasks[(scenario, contender)],
            status=f"{metrics.success_rate:.1%} delivered, p95 {p95}",
        )


@dataclass(slots=True)
class _Tally:
    total: int = 0
    done: int = 0
    latencies: list[float] = field(default_factory=list)
    sizes: Counter[str] = field(default_factory=Counter)
    finished: bool = False
    note: str = ""


_BAR_WIDTH = 8


class Scoreboard:
    """Per contender: requests ended, images delivered, their sizes, and by when half
    and 95% of the requests ended so far had one (a failure counts as never).

    Args:
        sizes: The tiers to count, largest first (the one asked for first).
    """

    def __init__(self, sizes: tuple[str, ...] = ("4K", "2K", "1K")) -> None:
        self._tallies: dict[str, _Tally] = {}
        self._sizes = sizes

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        """Start a row (again, if it was only announced)."""
        self._tallies[contender] = _Tally(total=total)

    def announce(self, contender: str, total: int, note: str) -> None:
        """Show a row for a contender that runs elsewhere, with ``note`` for its progress
        until its requests are counted."""
        self._tallies[contender] = _Tally(total=total, note=note)

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        """Count one request."""
        tally = self._tallies[contender]
        tally.done += 1
        tally.latencies.append(record.latency_s if record.ok else math.inf)
        if record.ok and record.size:
            tally.sizes[record.size] += 1

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        """Mark the row finished."""
        self.finish(contender)

    def finish(self, contender: str) -> None:
        """Mark the row finished."""
        self._tallies[contender].finished = True

    def render(self, title: str) -> Any:
        """The scoreboard as a rich table."""
        table_module = import_optional("rich.table", purpose="the demo display", extra="cli")
        box_module = import_optional("rich.box", purpose="the demo display", extra="cli")
        table = table_module.Table(title=title, title_justify="left", box=box_module.SIMPLE)
        table.add_column("client", no_wrap=True)
        table.add_column("requests\nended", no_wrap=True)
        for header in ("images", "/".join(self._sizes), "half\nwithin", "95%\nwithin"):
            table.add_column(header, justify="right", no_wrap=True)
        for name, t in self._tallies.items():
            ok = sum(1 for x in t.latencies if math.isfinite(x))
            filled = round(_BAR_WIDTH * t.done / t.total) if t.total else 0
            bar = "█" * filled + "·" * (_BAR_WIDTH - filled)
            progress = t.note if t.note and not t.done else f"{bar} {t.done}/{t.total}"
            table.add_row(
                name + (" ✓" if t.finished else ""),
                progress,
                str(ok),
                "/".join(str(t.sizes.get(s, 0)) for s in self._sizes),
                _fmt(t.latencies, 50),
                _fmt(t.latencies, 95),
            )
        return table


def _fmt(latencies: list[float], q: float) -> str:
    if not latencies:
        return "—"
    value = percentile(latencies, q)
    return "never" if math.isinf(value) else f"{value:.0f} s"

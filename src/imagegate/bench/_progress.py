"""Live displays: progress bars for ``imagegate bench``, a scoreboard for the demo.

Both implement the runner's `Progress` protocol with rich. `Scoreboard` keeps, per
contender, what the requests that have ended so far delivered and how fast, and renders
it as a table that the demo refreshes several times a second.
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


class Scoreboard:
    """Per contender: requests ended, delivered, failed, tiers, p50/p95 so far."""

    def __init__(self) -> None:
        self._tallies: dict[str, _Tally] = {}

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        """Start a row."""
        self._tallies[contender] = _Tally(total=total)

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        """Count one request."""
        tally = self._tallies[contender]
        tally.done += 1
        tally.latencies.append(record.latency_s if record.ok else math.inf)
        if record.ok and record.size:
            tally.sizes[record.size] += 1

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        """Mark the row finished."""
        self._tallies[contender].finished = True

    def render(self, title: str) -> Any:
        """The scoreboard as a rich table."""
        table_module = import_optional("rich.table", purpose="the demo display", extra="cli")
        table = table_module.Table(title=title, title_justify="left", min_width=100)
        for header in ("client", "progress", "delivered", "failed", "4K / 2K / 1K", "p50", "p95"):
            table.add_column(header, justify="left" if header == "client" else "right")
        for name, t in self._tallies.items():
            ok = sum(1 for x in t.latencies if math.isfinite(x))
            bar_width = 12
            filled = round(bar_width * t.done / t.total) if t.total else 0
            bar = "█" * filled + "·" * (bar_width - filled)
            sizes = " / ".join(str(t.sizes.get(s, 0)) for s in ("4K", "2K", "1K"))
            table.add_row(
                name + (" ✓" if t.finished else ""),
                f"{bar} {t.done}/{t.total}",
                str(ok),
                str(t.done - ok),
                sizes,
                _fmt(t.latencies, 50),
                _fmt(t.latencies, 95),
            )
        return table


def _fmt(latencies: list[float], q: float) -> str:
    if not latencies:
        return "—"
    value = percentile(latencies, q)
    return "∞" if math.isinf(value) else f"{value:.0f} s"

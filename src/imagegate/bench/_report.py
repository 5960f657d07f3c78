"""Output: the terminal tables (rich), their legend in plain words, and the JSON file.

The JSON file holds everything needed to redraw the charts or recompute a figure without
running again: the machine, the configuration, per scenario every contender's figures,
the targets, the notes, and one record per request and contender
(``[index, ok, latency_s, size, error kind]``). The charts are drawn by
`imagegate.bench._plot` (``write_plot`` is importable from here too).

``imagegate bench`` prints compact column headers (``success``, ``at size``, ``p95 s`` …)
with a legend in plain words under each table; ``imagegate demo`` prints the plain words
as the headers themselves (`print_plain_results`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Sequence
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

from imagegate.bench._config import BenchConfig
from imagegate.bench._deps import import_optional
from imagegate.bench._metrics import Metrics
from imagegate.bench._plot import ORACLE_CHOICE, write_plot
from imagegate.bench._runner import ScenarioResult
from imagegate.bench._targets import Target, check_targets

__all__ = [
    "legend",
    "machine_info",
    "print_plain_results",
    "print_results",
    "write_json",
    "write_plot",
]


def machine_info() -> dict[str, Any]:
    """The machine and software the figures came from."""
    info: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            total_kb = int(meminfo.readline().split()[1])
        info["memory_gib"] = round(total_kb / 2**20, 1)
    except (OSError, ValueError, IndexError):
        info["memory_gib"] = None
    versions: dict[str, str | None] = {}
    for dist in ("imagegate", "google-genai", "openai", "aiohttp", "litellm"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    info["versions"] = versions
    info["source"] = _source_state()
    return info


def _source_state() -> dict[str, Any] | None:
    """The git commit of the imagegate source in use and its modified files, when it runs
    from a checkout (figures move with the router's code)."""
    import subprocess

    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.splitlines()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": commit, "modified": [line[3:] for line in status]}


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return "∞" if math.isinf(value) else f"{value:,.0f}"


def _usd(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _row(m: Metrics) -> list[str]:
    attempts = "—" if m.attempts_per_request is None else f"{m.attempts_per_request:.2f}"
    wall = "—" if m.wall_s == 0 else f"{m.wall_s:.1f}"
    return [
        m.contender,
        f"{m.success_rate:.1%}",
        f"{m.at_size:.1%}",
        _seconds(m.p50_s),
        _seconds(m.p95_s),
        _seconds(m.p99_s),
        attempts,
        _usd(m.cost_per_image_usd),
        _usd(m.cost_per_image_upper_usd),
        wall,
    ]


_HEADERS = (
    "contender",
    "success",
    "at size",
    "p50 s",
    "p95 s",
    "p99 s",
    "attempts/req",
    "$/image",
    "$/image ≤",
    "wall s",
)


def _plain_headers(size: str) -> tuple[str, ...]:
    return (
        "client",
        "delivered in time",
        f"got the {size} asked for",
        "half had an image within",
        "95% had an image within",
        "upstream calls per request",
        "cost per image",
        "cost per image incl. calls that may have been billed",
    )


def _plain_row(m: Metrics) -> list[str]:
    def within(value: float) -> str:
        return "never" if math.isinf(value) else f"{value:,.0f} s"

    def usd(value: float | None) -> str:
        return "—" if value is None else f"${value:.3f}"

    calls = m.attempts_per_request
    return [
        m.contender,
        f"{m.success_rate:.0%}",
        f"{m.at_size:.0%}",
        within(m.p50_s),
        within(m.p95_s),
        "—" if calls is None else f"{calls:.2f}",
        usd(m.cost_per_image_usd),
        usd(m.cost_per_image_upper_usd),
    ]


def legend(config: BenchConfig, *, compact: bool) -> list[str]:
    """What each column means, in words a newcomer knows, one short line each: for the
    compact headers of ``imagegate bench`` (``compact``) or the plain headers of
    ``imagegate demo``."""
    size, deadline = config.size, f"{config.deadline_s:g} s"
    oracles = [
        "oracle: the fastest any client could have been, knowing in advance how every call "
        "would end",
        f"oracle-quality: the most {size} images any client could have got in time, known "
        "the same way",
    ]
    if compact:
        return [
            f"success: delivered in time (an image before the {deadline} deadline)",
            f"at size: got the {size} asked for (read from the image's own pixels)",
            "p50 / p95 / p99 s: simulated seconds by which half / 95% / 99% of all requests "
            "had an image (∞: more got none)",
            "attempts/req: upstream calls per request, retries and backups included",
            "$/image: what the providers billed, divided by the images delivered",
            "$/image ≤: the same including calls that may have been billed (the client "
            "stopped waiting, the connection broke)",
            "wall s: real seconds the run took",
            *oracles,
        ]
    return [
        f"delivered in time: got an image before the {deadline} deadline",
        f"got the {size} asked for: the image really is {size} (read from its own pixels); "
        "the others got a smaller one, or none",
        "half / 95% had an image within: simulated seconds by which half / 95% of all "
        "requests had one (never: more got none)",
        "upstream calls per request: calls the providers received, retries and backups "
        "included, divided by the requests",
        "cost per image: what the providers billed, divided by the images delivered",
        "cost per image incl. calls that may have been billed: adds the calls a client "
        "cannot know were free",
        "  (it stopped waiting, or the connection broke before the answer)",
        *oracles,
    ]


def _title(result: ScenarioResult) -> str:
    c = result.config
    return (
        f"{result.scenario}: {len(result.requests)} requests for {c.size} {c.aspect_ratio}, "
        f"deadline {c.deadline_s:g} s, concurrency {c.concurrency}, seed {c.seed}, "
        + ("virtual time" if c.time_scale is None else f"time scale {c.time_scale:g}")
    )


def print_results(
    results: Sequence[ScenarioResult], out: TextIO | None = None, *, targets: bool = True
) -> None:
    """Print every scenario's table with its legend, the targets (unless ``targets`` is
    False) and the notes (rich)."""
    rich_console = import_optional("rich.console", purpose="the results table")
    rich_table = import_optional("rich.table", purpose="the results table")
    console = rich_console.Console(file=out or sys.stdout, width=132)
    for result in results:
        _print_scenario(console, rich_table, result, targets=targets)


def print_plain_results(result: ScenarioResult, out: TextIO | None = None) -> None:
    """Print one scenario's table with plain words as its headers, the legend and the
    notes (rich), as ``imagegate demo`` shows them."""
    rich_console = import_optional("rich.console", purpose="the results table", extra="cli")
    rich_table = import_optional("rich.table", purpose="the results table", extra="cli")
    console = rich_console.Console(file=out or sys.stdout, width=120)
    c = result.config
    table = rich_table.Table(
        title=f"{result.scenario}: {len(result.requests)} requests for {c.size} "
        f"{c.aspect_ratio}, each with {c.deadline_s:g} s to deliver, {c.concurrency} at a "
        f"time, seed {c.seed}",
        title_justify="left",
    )
    for header in _plain_headers(c.size):
        if header == "client":
            table.add_column(header, no_wrap=True, min_width=len("imagegate-balanced"))
        else:
            table.add_column(header, justify="right")
    for name, m in result.metrics.items():
        table.add_row(*_plain_row(m), style="dim" if name.startswith("oracle") else None)
    console.print(table)
    _print_legend(console, legend(c, compact=False), result)
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow", markup=False)


def _print_legend(console: Any, lines: Sequence[str], result: ScenarioResult) -> None:
    for line in lines:
        console.print(f"  {line}", style="dim", markup=False)
    floor = result.cost_floor_usd
    if floor is not None:
        console.print(
            f"  the cheapest image any route could have delivered: ${floor:.3f}", style="dim"
        )


def _print_scenario(
    console: Any, rich_table: Any, result: ScenarioResult, *, targets: bool
) -> None:
    """One scenario: its figures, the targets, the abandoned attempts and the notes."""
    console.print(_figures_table(rich_table, result))
    _print_legend(console, legend(result.config, compact=True), result)
    floor = result.cost_floor_usd
    checked = check_targets(result.metrics, cost_floor_usd=floor) if targets else []
    if checked:
        console.print(_targets_table(rich_table, checked))
    for m in result.metrics.values():
        if m.abandoned:
            console.print(
                f"  {m.contender}: stopped waiting for {m.abandoned} upstream call(s) that "
                f"would have delivered in time; {m.rescuable} failed request(s) had one",
                style="dim",
            )
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow", markup=False)
    console.print()


def _figures_table(rich_table: Any, result: ScenarioResult) -> Any:
    table = rich_table.Table(title=_title(result), title_justify="left")
    for header in _HEADERS:
        table.add_column(header, justify="left" if header == "contender" else "right")
    for name, m in result.metrics.items():
        table.add_row(*_row(m), style="dim" if name.startswith("oracle") else None)
    return table


def _targets_table(rich_table: Any, targets: Sequence[Target]) -> Any:
    table = rich_table.Table(
        title="imagegate against its targets (docs/benchmarks.md)", title_justify="left"
    )
    for header in ("target", "imagegate", "bound", ""):
        table.add_column(header)
    for t in targets:
        verdict = "n/a" if t.met is None else ("met" if t.met else "MISSED")
        style = None if t.met is None else ("green" if t.met else "red")
        table.add_row(t.name, t.value, t.limit, verdict, style=style)
    return table


def results_json(
    results: Sequence[ScenarioResult], *, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything as a JSON-safe dict (see the module docstring)."""
    document: dict[str, Any] = {
        "machine": machine_info(),
        "config": _config_json(results[0].config) if results else {},
        "scenarios": [_scenario_json(result) for result in results],
    }
    if extra:
        document.update(extra)
    return document


def _config_json(config: BenchConfig) -> dict[str, Any]:
    document = asdict(config)
    document["routes"] = [
        {"name": r.name, "backup": r.backup, "price_usd": r.price_usd, "tiers": dict(r.tiers)}
        for r in config.routes
    ]
    return document


def _scenario_json(result: ScenarioResult) -> dict[str, Any]:
    floor = result.cost_floor_usd
    return {
        "scenario": result.scenario,
        "description": result.description,
        "metrics": {n: m.to_json() for n, m in result.metrics.items()},
        "targets": [t.to_json() for t in check_targets(result.metrics, cost_floor_usd=floor)],
        "cost_floor_usd": floor,
        "time_scales": {n: run.time_scale for n, run in result.runs.items()},
        "notes": result.notes,
        "records": _records_json(result),
    }


def _records_json(result: ScenarioResult) -> dict[str, list[list[Any]]]:
    """Per contender one record per request, ``[index, ok, latency_s, size, error kind]``;
    for an oracle the last item is the route it picked."""
    records = {
        name: [
            [r.index, r.ok, _finite(round(r.latency_s, 2)), r.size, _kind(r.error)]
            for r in run.records
        ]
        for name, run in result.runs.items()
    }
    for name, pick in ORACLE_CHOICE.items():
        if name in result.metrics:
            choices = [getattr(v, pick) for v in result.verdicts]
            records[name] = [
                [q.index, c.ok, _finite(round(c.latency_s, 2)), c.size, c.route]
                for q, c in zip(result.requests, choices, strict=True)
            ]
    return records


def _kind(error: str | None) -> str | None:
    """The failure's kind, the text before its first colon (the full text is long)."""
    return None if error is None else error.split(":")[0]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def write_json(
    path: str | os.PathLike[str],
    results: Sequence[ScenarioResult],
    *,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write `results_json` to ``path``."""
    target = Path(path)
    # Compact: a 500-request run holds thousands of per-request records.
    document = results_json(results, extra=extra)
    target.write_text(
        json.dumps(document, separators=(",", ":"), ensure_ascii=False) + "\n",
        encoding="utf-8",
    )
    return target

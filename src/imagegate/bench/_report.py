"""Output: the terminal table (rich), the JSON file and the PNG plot.

The JSON file holds everything needed to redraw the plots or recompute a figure without
running again: the machine, the configuration, per scenario every contender's figures,
the targets, the notes, and one record per request and contender
(``[index, ok, latency_s, size, error kind]``). The plot has one row per scenario: the latency
CDF of every contender (failures never arrive, so a curve tops out at its success rate),
success and cost bars, and the speed-vs-size chart (p95 against the share delivered at
the requested size) with both oracles.
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
from typing import Any, Final, TextIO

from imagegate.bench._config import BenchConfig
from imagegate.bench._deps import import_optional
from imagegate.bench._metrics import Metrics
from imagegate.bench._runner import LATENCY_ORACLE, QUALITY_ORACLE, ScenarioResult
from imagegate.bench._targets import Target, check_targets

__all__ = ["machine_info", "print_results", "write_json", "write_plot"]

_ORACLE_CHOICE: Final = {LATENCY_ORACLE: "latency", QUALITY_ORACLE: "quality"}
"""Which choice of each request's `OracleVerdict` an oracle's records come from."""


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
    """Print every scenario's table, the targets (unless ``targets`` is False) and the
    notes (rich)."""
    rich_console = import_optional("rich.console", purpose="the results table")
    rich_table = import_optional("rich.table", purpose="the results table")
    console = rich_console.Console(file=out or sys.stdout, width=132)
    for result in results:
        _print_scenario(console, rich_table, result, targets=targets)


def _print_scenario(
    console: Any, rich_table: Any, result: ScenarioResult, *, targets: bool
) -> None:
    """One scenario: its figures, the targets, the abandoned attempts and the notes."""
    console.print(_figures_table(rich_table, result))
    console.print(
        "  latencies in simulated seconds to the image over all requests (∞: more than "
        "100−q % got none); $/image: billed ÷ delivered, ≤: plus possibly billed",
        style="dim",
    )
    floor = result.cost_floor_usd
    if floor is not None:
        console.print(f"  cheapest image any route could deliver: ${floor:.3f}", style="dim")
    checked = check_targets(result.metrics, cost_floor_usd=floor) if targets else []
    if checked:
        console.print(_targets_table(rich_table, checked))
    for m in result.metrics.values():
        if m.abandoned:
            console.print(
                f"  {m.contender}: hung up on {m.abandoned} attempt(s) that would have "
                f"delivered in time; {m.rescuable} failed request(s) had one",
                style="dim",
            )
    for note in result.notes:
        console.print(f"  note: {note}", style="yellow")
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
    for name, pick in _ORACLE_CHOICE.items():
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


def write_plot(path: str | os.PathLike[str], results: Sequence[ScenarioResult]) -> Path:
    """Draw the PNG (see the module docstring) and return its path."""
    matplotlib = import_optional("matplotlib", purpose="--plot")
    matplotlib.use("Agg")
    plt = import_optional("matplotlib.pyplot", purpose="--plot")
    rows = max(1, len(results))
    figure, axes = plt.subplots(rows, 4, figsize=(20, 4.2 * rows), squeeze=False)
    for row, result in zip(axes, results, strict=False):
        _plot_scenario(row, result)
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=72)
    plt.close(figure)
    return target


def _plot_scenario(axes: Any, result: ScenarioResult) -> None:
    cdf, success, cost, frontier = axes
    colours = {name: f"C{i % 10}" for i, name in enumerate(result.metrics)}
    _plot_cdf(cdf, result, colours)
    _plot_success(success, result, colours)
    _plot_cost(cost, result, colours)
    _plot_frontier(frontier, result, colours)


def _plot_cdf(axis: Any, result: ScenarioResult, colours: dict[str, str]) -> None:
    deadline = result.config.deadline_s
    for name, colour in colours.items():
        latencies = _latencies(result, name)
        if not latencies:
            continue
        style = "--" if name.startswith("oracle") else "-"
        axis.step(*_cdf(latencies, deadline), style, label=name, color=colour)
    axis.set_title(f"{result.scenario}: time to image (CDF)")
    axis.set_xlabel("simulated seconds")
    axis.set_ylabel("share of requests")
    axis.set_xlim(0, deadline)
    axis.set_ylim(0, 1.02)
    axis.legend(fontsize=7, loc="lower right")


def _cdf(latencies: Sequence[float], deadline: float) -> tuple[list[float], list[float]]:
    """The steps of the share of requests served by each time, from 0 to the deadline
    (a failure, ``inf``, never arrives)."""
    ordered = sorted(latencies)
    xs = [x for x in ordered if math.isfinite(x)]
    ys = [(i + 1) / len(ordered) for i in range(len(xs))]
    return [0.0, *xs, deadline], [0.0, *ys, ys[-1] if ys else 0.0]


def _plot_success(axis: Any, result: ScenarioResult, colours: dict[str, str]) -> None:
    names = list(colours)
    rates = [result.metrics[n].success_rate * 100 for n in names]
    axis.bar(names, rates, color=list(colours.values()))
    axis.set_title("success within the deadline (%)")
    axis.set_ylim(0, 105)
    axis.tick_params(axis="x", labelrotation=35, labelsize=8)


def _plot_cost(axis: Any, result: ScenarioResult, colours: dict[str, str]) -> None:
    names = list(colours)
    costs = [result.metrics[n].cost_per_image_upper_usd or 0.0 for n in names]
    billed = [result.metrics[n].cost_per_image_usd or 0.0 for n in names]
    axis.bar(names, costs, color="lightgrey", label="billed + possibly billed")
    axis.bar(names, billed, color=list(colours.values()), label="billed")
    axis.set_yscale("log")
    axis.set_title("cost per delivered image (USD, log scale)")
    axis.legend(fontsize=7)
    axis.tick_params(axis="x", labelrotation=35, labelsize=8)


def _plot_frontier(axis: Any, result: ScenarioResult, colours: dict[str, str]) -> None:
    deadline = result.config.deadline_s
    for name, colour in colours.items():
        m = result.metrics[name]
        p95 = m.p95_s if math.isfinite(m.p95_s) else deadline
        marker = "*" if name.startswith("oracle") else "o"
        axis.scatter([m.at_size * 100], [p95], marker=marker, s=80, color=colour)
        axis.annotate(name, (m.at_size * 100, p95), fontsize=7, xytext=(4, 4),
                      textcoords="offset points")  # fmt: skip
    axis.set_title("speed vs size (p95 at the deadline = ∞)")
    axis.set_xlabel(f"% delivered at the requested size ({result.config.size})")
    axis.set_ylabel("p95 (simulated s)")
    axis.set_xlim(-5, 105)
    axis.set_ylim(0, deadline * 1.05)


def _latencies(result: ScenarioResult, name: str) -> list[float]:
    if name in result.runs:
        return [r.latency_s if r.ok else math.inf for r in result.runs[name].records]
    pick = _ORACLE_CHOICE.get(name)
    if pick is None:
        return []
    return [getattr(v, pick).latency_s for v in result.verdicts]

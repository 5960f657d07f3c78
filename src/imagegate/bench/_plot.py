"""The PNG charts, drawn with matplotlib (imported only here, when a chart is asked for).

`write_plot` draws ``imagegate bench --plot``: one row per scenario with the time-to-image
CDF of every contender (failures never arrive, so a curve tops out at its share
delivered), the share delivered in time and the cost per image as bars, and the
speed-vs-size chart. `write_frontier_plot` draws the speed-vs-size chart alone, for
``imagegate demo``: one point per contender, the share of requests that got the size
asked for across, the time by which 95% had an image up, both oracles as stars. A
contender that never got 95% there sits on the deadline line, marked "never".
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from imagegate.bench._deps import import_optional
from imagegate.bench._runner import LATENCY_ORACLE, QUALITY_ORACLE, ScenarioResult

__all__ = ["ORACLE_CHOICE", "write_frontier_plot", "write_plot"]

ORACLE_CHOICE: Final = {LATENCY_ORACLE: "latency", QUALITY_ORACLE: "quality"}
"""Which choice of each request's `OracleVerdict` an oracle's records come from."""


def _pyplot(purpose: str) -> Any:
    """matplotlib's pyplot on the file-only Agg backend (no display needed)."""
    matplotlib = import_optional("matplotlib", purpose=purpose)
    matplotlib.use("Agg")
    return import_optional("matplotlib.pyplot", purpose=purpose)


def write_plot(path: str | os.PathLike[str], results: Sequence[ScenarioResult]) -> Path:
    """Draw the PNG of ``imagegate bench --plot`` (see the module docstring) and return
    its path."""
    plt = _pyplot("--plot")
    rows = max(1, len(results))
    figure, axes = plt.subplots(rows, 4, figsize=(20, 4.2 * rows), squeeze=False)
    for row, result in zip(axes, results, strict=False):
        _plot_scenario(row, result)
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=72)
    plt.close(figure)
    return target


def write_frontier_plot(path: str | os.PathLike[str], result: ScenarioResult) -> Path:
    """Draw the speed-vs-size chart of one scenario alone (see the module docstring) and
    return its path.

    Raises:
        MissingDependency: matplotlib is not installed (the message says how to get it).
    """
    plt = _pyplot("the speed-vs-size chart")
    figure, axis = plt.subplots(figsize=(8, 5.5))
    _plot_frontier(axis, result, _colours(result))
    axis.set_title(
        f"{result.scenario}: speed vs size, {len(result.requests)} requests for "
        f"{result.config.size} (simulated seconds)",
        fontsize=10,
    )
    figure.tight_layout()
    target = Path(path)
    figure.savefig(target, dpi=90)
    plt.close(figure)
    return target


def _colours(result: ScenarioResult) -> dict[str, str]:
    return {name: f"C{i % 10}" for i, name in enumerate(result.metrics)}


def _plot_scenario(axes: Any, result: ScenarioResult) -> None:
    cdf, success, cost, frontier = axes
    colours = _colours(result)
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
    axis.set_ylabel("share of requests with an image")
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
    axis.set_title("delivered in time (%)")
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
    placed: list[tuple[float, float]] = []
    for name, colour in colours.items():
        m = result.metrics[name]
        x, y = m.at_size * 100, m.p95_s if math.isfinite(m.p95_s) else deadline
        label = name if math.isfinite(m.p95_s) else f"{name} (never)"
        marker = "*" if name.startswith("oracle") else "o"
        axis.scatter([x], [y], marker=marker, s=80, color=colour)
        # Labels of points close together are stacked (a higher point's higher), not
        # printed over each other.
        near = [py for px, py in placed if abs(px - x) < 25 and abs(py - y) < deadline / 25]
        placed.append((x, y))
        lift = 9 * len(near) if all(y >= py for py in near) else -9 * len(near)
        axis.annotate(label, (x, y), fontsize=7, xytext=(4, 4 + lift),
                      textcoords="offset points")  # fmt: skip
    axis.axhline(deadline, color="lightgrey", linestyle=":", linewidth=1)
    axis.set_title("speed vs size (lower: sooner; right: more at the size asked for)")
    axis.set_xlabel(f"% of requests that got the {result.config.size} asked for")
    axis.set_ylabel("95% had an image within (simulated s)")
    axis.set_xlim(-5, 105)
    axis.set_ylim(0, deadline * 1.05)


def _latencies(result: ScenarioResult, name: str) -> list[float]:
    if name in result.runs:
        return [r.latency_s if r.ok else math.inf for r in result.runs[name].records]
    pick = ORACLE_CHOICE.get(name)
    if pick is None:
        return []
    return [getattr(v, pick).latency_s for v in result.verdicts]

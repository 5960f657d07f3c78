"""``imagegate bench --seeds 0-9``: every figure as its median and range across seeds.

One seed is one draw of the world: which attempts fail, how long each takes. On virtual
time a seed always gives the same figures, so the spread across seeds is the spread of
the worlds, not of the machine. For each scenario and contender, `summarize_seeds` gives
each figure's median, lowest and highest value over the seeds; and for each of
imagegate's targets (the ones ``check_targets`` judges, "beats waterfall on success and
p95" among them) and each preset's (``check_preset_targets``: "imagegate-latency: p95 ≤
2× oracle p95" …) the seeds where it held and the ones where it failed.
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TextIO

from imagegate.bench._deps import import_optional
from imagegate.bench._metrics import Metrics
from imagegate.bench._report import results_json
from imagegate.bench._runner import ScenarioResult
from imagegate.bench._targets import check_preset_targets, check_targets

__all__ = [
    "SEED_FIGURES",
    "FigureSpread",
    "SeedSummary",
    "format_figure",
    "parse_seeds",
    "print_seed_summary",
    "summarize_seeds",
    "write_seeds_json",
]

SEED_FIGURES: Final = (
    "success_rate",
    "at_size",
    "p50_s",
    "p95_s",
    "attempts_per_request",
    "cost_per_image_usd",
)
"""The figures summarized across seeds (attributes of `Metrics`)."""

_MAX_SEEDS: Final = 1000


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-9"``, ``"1,4,7"`` or ``"0-4,9"`` as the seeds, in order, without repeats.

    Raises:
        ValueError: a malformed item, a range that ends before it starts, or more than
            1000 seeds.
    """
    seeds: list[int] = []
    for item in (part.strip() for part in text.split(",")):
        low, dash, high = item.partition("-")
        if not low.strip().lstrip("-").isdigit() or (dash and not high.strip().isdigit()):
            raise ValueError(f"not a seed or a range of seeds: {item!r}")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"a range of seeds ends before it starts: {item!r}")
        if last - first + len(seeds) >= _MAX_SEEDS:
            raise ValueError(f"at most {_MAX_SEEDS} seeds")
        seeds.extend(s for s in range(first, last + 1) if s not in seeds)
    return tuple(seeds)


@dataclass(frozen=True, slots=True)
class FigureSpread:
    """One figure across seeds: its median, lowest and highest value (inf for never)."""

    median: float
    low: float
    high: float

    def to_json(self) -> dict[str, float | None]:
        """A JSON-safe dict (inf becomes None)."""
        return {k: v if math.isfinite(v) else None for k, v in self._items()}

    def _items(self) -> tuple[tuple[str, float], ...]:
        return (("median", self.median), ("low", self.low), ("high", self.high))


@dataclass(slots=True)
class SeedSummary:
    """What held across seeds, per scenario.

    Attributes:
        seeds: The seeds, in run order.
        figures: scenario → contender → figure → its spread.
        verdicts: scenario → target → per seed, whether it held (None: not judged).
    """

    seeds: tuple[int, ...]
    figures: dict[str, dict[str, dict[str, FigureSpread]]] = field(default_factory=dict)
    verdicts: dict[str, dict[str, dict[int, bool | None]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "seeds": list(self.seeds),
            "figures": {
                scenario: {
                    name: {figure: spread.to_json() for figure, spread in figures.items()}
                    for name, figures in contenders.items()
                }
                for scenario, contenders in self.figures.items()
            },
            "verdicts": {
                scenario: {
                    target: {str(seed): met for seed, met in held.items()}
                    for target, held in targets.items()
                }
                for scenario, targets in self.verdicts.items()
            },
        }


def _value(metrics: Metrics, figure: str) -> float:
    value = getattr(metrics, figure)
    return math.inf if value is None else float(value)


def _spread(values: Sequence[float]) -> FigureSpread:
    ordered = sorted(values)
    return FigureSpread(statistics.median_low(ordered), ordered[0], ordered[-1])


def summarize_seeds(per_seed: Mapping[int, Sequence[ScenarioResult]]) -> SeedSummary:
    """The spread of every figure and the verdicts per seed (``per_seed``: seed → its
    results, one per scenario, in the same scenario order for every seed)."""
    summary = SeedSummary(tuple(per_seed))
    values: dict[tuple[str, str, str], list[float]] = {}
    for seed, results in per_seed.items():
        for result in results:
            for name, metrics in result.metrics.items():
                for figure in SEED_FIGURES:
                    values.setdefault((result.scenario, name, figure), []).append(
                        _value(metrics, figure)
                    )
            targets = [
                *check_targets(result.metrics, cost_floor_usd=result.cost_floor_usd),
                *check_preset_targets(result.metrics),
            ]
            held = summary.verdicts.setdefault(result.scenario, {})
            for target in targets:
                held.setdefault(target.name, {})[seed] = target.met
    for (scenario, name, figure), found in values.items():
        contenders = summary.figures.setdefault(scenario, {})
        contenders.setdefault(name, {})[figure] = _spread(found)
    return summary


def format_figure(figure: str, value: float) -> str:
    """``value`` of ``figure`` as the tables show it (∞ for a time never reached)."""
    if not math.isfinite(value):
        return "∞" if figure.endswith("_s") else "—"
    if figure in ("success_rate", "at_size"):
        return f"{value:.1%}"
    if figure == "cost_per_image_usd":
        return f"{value:.3f}"
    return f"{value:.2f}" if figure == "attempts_per_request" else f"{value:.0f}"


def _cell(figure: str, spread: FigureSpread) -> str:
    if spread.low == spread.high:
        return format_figure(figure, spread.median)
    low, high = format_figure(figure, spread.low), format_figure(figure, spread.high)
    return f"{format_figure(figure, spread.median)} [{low}–{high}]"


_HEADERS: Final = ("contender", "success", "at size", "p50 s", "p95 s", "attempts/req", "$/image")


def print_seed_summary(summary: SeedSummary, out: TextIO | None = None) -> None:
    """Print per scenario the figures (median [lowest–highest]) and the verdicts per seed."""
    console = import_optional("rich.console", purpose="the results table").Console(
        file=out, width=140
    )
    table_module = import_optional("rich.table", purpose="the results table")
    seeds = ", ".join(str(s) for s in summary.seeds)
    for scenario, contenders in summary.figures.items():
        table = table_module.Table(
            title=f"{scenario}: median \\[lowest–highest] over seeds {seeds}", title_justify="left"
        )
        for header in _HEADERS:
            table.add_column(header, justify="left" if header == "contender" else "right")
        for name, figures in contenders.items():
            table.add_row(name, *(_cell(f, figures[f]) for f in SEED_FIGURES))
        console.print(table)
        if not summary.verdicts.get(scenario):
            continue  # imagegate did not run: no targets to judge
        verdicts = table_module.Table(title=f"{scenario}: imagegate's targets, per seed")
        for header in ("target", "held", "failed on seeds"):
            verdicts.add_column(header)
        for target, held in summary.verdicts.get(scenario, {}).items():
            judged = [s for s, met in held.items() if met is not None]
            failed = [str(s) for s, met in held.items() if met is False]
            verdicts.add_row(
                target,
                f"{len(judged) - len(failed)}/{len(judged)}",
                ", ".join(failed) or "—",
                style="green" if not failed else "red",
            )
        console.print(verdicts)


def write_seeds_json(
    path: str | os.PathLike[str],
    per_seed: Mapping[int, Sequence[ScenarioResult]],
    summary: SeedSummary,
) -> Path:
    """Write the machine, the configuration (with the seeds), every seed's figures and
    the spread across seeds to ``path``."""
    first = next(iter(per_seed.values()))
    document = results_json(first)
    document["config"]["seeds"] = list(per_seed)
    del document["scenarios"]
    document["per_seed"] = {
        str(seed): [
            {"scenario": r.scenario, "metrics": {n: m.to_json() for n, m in r.metrics.items()}}
            for r in results
        ]
        for seed, results in per_seed.items()
    }
    document["across_seeds"] = summary.to_json()
    target = Path(path)
    target.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    return target

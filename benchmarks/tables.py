"""The Markdown tables of benchmarks/RESULTS.md, from the JSON ``regenerate.py`` writes::

    python benchmarks/tables.py benchmarks/results/seeds.json > /tmp/tables.md

Per scenario: every contender's figures as median [lowest–highest] across the seeds, and
each target (imagegate's, each preset's) with the seeds where it held and failed. Targets
that quote LiteLLM are marked: LiteLLM's own figures are not fixed by a seed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from imagegate.bench._seeds import format_figure

_FIGURES = (
    ("success_rate", "success"),
    ("at_size", "at {size}"),
    ("p50_s", "p50 s"),
    ("p95_s", "p95 s"),
    ("attempts_per_request", "attempts/req"),
    ("cost_per_image_usd", "$/image"),
)


def _cell(figure: str, spread: dict[str, float | None]) -> str:
    values = (spread[k] for k in ("median", "low", "high"))
    median, low, high = (format_figure(figure, math.inf if v is None else v) for v in values)
    return median if low == high else f"{median} [{low}–{high}]"


def tables(document: dict[str, Any]) -> str:
    """The Markdown of every scenario's figures and verdicts in ``document``."""
    across = document["across_seeds"]
    seeds = ", ".join(str(s) for s in across["seeds"])
    out: list[str] = []
    for scenario, contenders in across["figures"].items():
        out += [f"#### {scenario}: median [lowest–highest] over seeds {seeds}", ""]
        size = document["config"]["size"]
        out.append("| contender | " + " | ".join(h.format(size=size) for _, h in _FIGURES) + " |")
        out.append("|---" * (len(_FIGURES) + 1) + "|")
        for name, figures in contenders.items():
            cells = " | ".join(_cell(f, figures[f]) for f, _ in _FIGURES)
            out.append(f"| {name} | {cells} |")
        out.append("")
        verdicts = across["verdicts"].get(scenario) or {}
        if not verdicts:
            continue
        out += ["| target | held | failed on seeds |", "|---|---|---|"]
        for target, held in verdicts.items():
            judged = [s for s, met in held.items() if met is not None]
            failed = [s for s, met in held.items() if met is False]
            mark = " (LiteLLM: one draw per seed)" if "litellm" in target else ""
            out.append(
                f"| {target}{mark} | {len(judged) - len(failed)}/{len(judged)} | "
                f"{', '.join(failed) or '—'} |"
            )
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(tables(json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))))

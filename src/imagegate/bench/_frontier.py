"""What a run says about the speed/size frontier, in sentences built from its figures.

``imagegate demo`` closes with them: how often imagegate delivered with each preset, then
per preset whether it beat the waterfall on the axis it is made for — ``latency`` on time
(the time by which 95% and half of the requests had an image), ``quality`` on the share
that got the size asked for, ``balanced`` on both, and whether it sits between the other
two. A preset that did not beat the waterfall on a run is said not to, with the figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from imagegate.bench._metrics import Metrics

__all__ = ["BASELINE", "PRESETS", "frontier_lines"]

BASELINE: Final = "waterfall"
"""The client the presets are compared with: the size waterfall people run today."""

PRESETS: Final = ("imagegate-latency", "imagegate-balanced", "imagegate-quality")
"""The presets' contender names, fastest first."""

_CLEARLY: Final = 1.05
"""How much sooner a time must be to count as sooner (rounding is no win)."""


def frontier_lines(metrics: Mapping[str, Metrics], *, size: str) -> list[str]:
    """The closing sentences for the presets present in ``metrics``, compared with
    `BASELINE`; none when either is missing."""
    base = metrics.get(BASELINE)
    presets = [metrics[name] for name in PRESETS if name in metrics]
    if base is None or not presets:
        return []
    first, *rest = presets
    delivered = ", ".join(
        [
            f"{first.success_rate:.0%} of the requests with the {_preset(first)} preset",
            *(f"{m.success_rate:.0%} with {_preset(m)}" for m in rest),
        ]
    )
    lines = [
        f"imagegate delivered an image in time to {delivered}; the {BASELINE} to "
        f"{base.success_rate:.0%}."
    ]
    for m in presets:
        line = _LINES[m.contender](m, base, size, metrics)
        if m.success_rate < base.success_rate:
            line += (
                f" But it delivered to fewer requests: {m.success_rate:.0%} against "
                f"{base.success_rate:.0%}."
            )
        lines.append(line)
    return lines


def _preset(m: Metrics) -> str:
    return m.contender.removeprefix("imagegate-")


def _within95(value: float) -> str:
    return "never (more than 5% got none)" if math.isinf(value) else f"{value:,.0f} s"


def _within50(value: float) -> str:
    return "never (more than half got none)" if math.isinf(value) else f"{value:,.0f} s"


def _sooner(mine: float, theirs: float) -> bool:
    """``mine`` is clearly sooner than ``theirs`` (a never is later than any time)."""
    if math.isinf(mine):
        return False
    return math.isinf(theirs) or mine * _CLEARLY <= theirs


def _times(m: Metrics, base: Metrics) -> str:
    """Both times side by side: "95% had an image within 28 s against 267 s …"."""
    factor = ""
    if math.isfinite(base.p95_s) and m.p95_s > 0 and _sooner(m.p95_s, base.p95_s):
        factor = f", {base.p95_s / m.p95_s:.1f}× sooner"
    return (
        f"95% had an image within {_within95(m.p95_s)} against {_within95(base.p95_s)} for "
        f"the {BASELINE}{factor} (half within {_within50(m.p50_s)} against "
        f"{_within50(base.p50_s)})"
    )


def _shares(m: Metrics, base: Metrics, size: str) -> str:
    return (
        f"{m.at_size:.0%} got the {size} asked for against {base.at_size:.0%} with the {BASELINE}"
    )


def _latency(m: Metrics, base: Metrics, size: str, _all: Mapping[str, Metrics]) -> str:
    if _sooner(m.p95_s, base.p95_s):
        return f"{m.contender} answers sooner: {_times(m, base)}."
    return (
        f"{m.contender} did not answer sooner than the {BASELINE} on this run: {_times(m, base)}."
    )


def _quality(m: Metrics, base: Metrics, size: str, _all: Mapping[str, Metrics]) -> str:
    if m.at_size > base.at_size:
        return f"{m.contender} delivers the {size}: {_shares(m, base, size)}; {_times(m, base)}."
    return (
        f"{m.contender} got no more {size} than the {BASELINE} on this run: "
        f"{_shares(m, base, size)}."
    )


def _balanced(m: Metrics, base: Metrics, size: str, every: Mapping[str, Metrics]) -> str:
    sooner, larger = _sooner(m.p95_s, base.p95_s), m.at_size > base.at_size
    figures = f"{_shares(m, base, size)}; {_times(m, base)}"
    if sooner and larger:
        verdict = f"beats the {BASELINE} on both size and time"
    elif larger:
        verdict = f"beats the {BASELINE} on size but not on time"
    elif sooner:
        verdict = f"beats the {BASELINE} on time but not on size"
    else:
        verdict = f"beats the {BASELINE} on neither size nor time on this run"
    line = f"{m.contender} {verdict}: {figures}."
    fast, sharp = every.get(PRESETS[0]), every.get(PRESETS[2])
    if fast is not None and sharp is not None and _between(m, fast, sharp):
        line += " It sits between the latency and quality presets on both."
    return line


def _between(m: Metrics, fast: Metrics, sharp: Metrics) -> bool:
    def inside(value: float, a: float, b: float) -> bool:
        return min(a, b) <= value <= max(a, b)

    return inside(m.p95_s, fast.p95_s, sharp.p95_s) and inside(
        m.at_size, fast.at_size, sharp.at_size
    )


_LINES: Final = {
    "imagegate-latency": _latency,
    "imagegate-balanced": _balanced,
    "imagegate-quality": _quality,
}

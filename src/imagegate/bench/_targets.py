"""imagegate's targets (docs/benchmarks.md), checked against one scenario's figures.

Every oracle-relative target is checked against both oracles, latency and quality (and
cost also against the cheapest image any route could deliver)::

    success in deadline     ≥ 99.9 %
    p95                     ≤ 1.5 × the oracle's p95        (latency and quality oracle)
    attempts per request    ≤ 1.3
    cost per image          ≤ 1.15 × the oracle's           (latency, quality, cheapest)
    against every peer      higher success and lower p95 ("beats every peer")

Cost is the upper figure (billed plus possibly billed), as imagegate's own ``cost_usd``
counts it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Final

from imagegate.bench._metrics import Metrics

__all__ = ["PEERS", "Target", "check_targets"]

PEERS: Final = frozenset({"waterfall", "waterfall-retry", "backoff", "litellm"})
"""The contenders the targets call peers: the field's client code and LiteLLM's Router."""

_SUCCESS: Final = 0.999
_P95_FACTOR: Final = 1.5
_ATTEMPTS: Final = 1.3
_COST_FACTOR: Final = 1.15


@dataclass(frozen=True, slots=True)
class Target:
    """One target, met or missed.

    Attributes:
        name: What is checked (``"p95 ≤ 1.5× latency oracle"``).
        value: The contender's figure, formatted.
        limit: The bound, formatted.
        met: Whether it holds (None when it cannot be judged).
    """

    name: str
    value: str
    limit: str
    met: bool | None

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return asdict(self)


def _s(value: float | None) -> str:
    if value is None:
        return "n/a"
    return "∞" if math.isinf(value) else f"{value:.1f} s"


def _usd(value: float | None) -> str:
    return "n/a" if value is None else f"${value:.4f}"


def _ratio(value: float | None, bound: float | None) -> str:
    if value is None or bound is None or bound == 0 or math.isinf(bound):
        return ""
    return f" ({value / bound:.2f}×)" if math.isfinite(value) else ""


def check_targets(
    metrics: dict[str, Metrics],
    *,
    contender: str = "imagegate",
    cost_floor_usd: float | None = None,
) -> list[Target]:
    """The targets for ``contender`` given every figure of the scenario (empty when the
    contender did not run)."""
    me = metrics.get(contender)
    if me is None:
        return []
    targets = [
        Target(
            "success in deadline ≥ 99.9%",
            f"{me.success_rate:.1%}",
            "99.9%",
            me.success_rate >= _SUCCESS,
        )
    ]
    oracles = [(n, m) for n, m in metrics.items() if n.startswith("oracle")]
    for name, oracle in oracles:
        bound = _P95_FACTOR * oracle.p95_s
        targets.append(
            Target(
                f"p95 ≤ 1.5× {name} p95",
                _s(me.p95_s) + _ratio(me.p95_s, oracle.p95_s),
                _s(bound),
                None if math.isinf(bound) else me.p95_s <= bound,
            )
        )
    if me.attempts_per_request is not None:
        targets.append(
            Target(
                "attempts per request ≤ 1.3",
                f"{me.attempts_per_request:.2f}",
                f"{_ATTEMPTS}",
                me.attempts_per_request <= _ATTEMPTS,
            )
        )
    cost = me.cost_per_image_upper_usd
    references = [(n, m.cost_per_image_usd) for n, m in oracles]
    if cost_floor_usd is not None:
        references.append(("cheapest image", cost_floor_usd))
    for name, reference in references:
        bound_usd = None if reference is None else _COST_FACTOR * reference
        targets.append(
            Target(
                f"cost per image ≤ 1.15× {name}",
                _usd(cost) + _ratio(cost, reference),
                _usd(bound_usd),
                None if cost is None or bound_usd is None else cost <= bound_usd,
            )
        )
    for name, peer in metrics.items():
        if name not in PEERS:
            continue
        if math.isinf(me.p95_s) and math.isinf(peer.p95_s):
            beats = me.success_rate > peer.success_rate
        else:
            beats = me.success_rate >= peer.success_rate and me.p95_s < peer.p95_s
        targets.append(
            Target(
                f"beats {name} on success and p95",
                f"{me.success_rate:.1%}, p95 {_s(me.p95_s)}",
                f"{peer.success_rate:.1%}, p95 {_s(peer.p95_s)}",
                beats,
            )
        )
    if me.oracle_violations is not None:
        targets.append(
            Target(
                "never faster than the latency oracle (sanity)",
                str(me.oracle_violations),
                "0",
                me.oracle_violations == 0,
            )
        )
    return targets

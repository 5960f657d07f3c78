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

__all__ = ["PEERS", "PRESET_CONTENDERS", "Target", "check_preset_targets", "check_targets"]

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
    oracles = {n: m for n, m in metrics.items() if n.startswith("oracle")}
    return [
        _success(me),
        *_p95(me, oracles),
        *_attempts(me),
        *_cost(me, oracles, cost_floor_usd),
        *_peers(me, metrics),
        *_sanity(me),
    ]


def _success(me: Metrics) -> Target:
    return Target(
        "success in deadline ≥ 99.9%",
        f"{me.success_rate:.1%}",
        "99.9%",
        me.success_rate >= _SUCCESS,
    )


def _p95(me: Metrics, oracles: dict[str, Metrics]) -> list[Target]:
    """p95 against each oracle's (not judged when the oracle's own p95 is ∞)."""
    return [
        _within(me.p95_s, _P95_FACTOR, oracle.p95_s, f"p95 ≤ 1.5× {name} p95")
        for name, oracle in oracles.items()
    ]


def _attempts(me: Metrics, bound: float = _ATTEMPTS) -> list[Target]:
    """Attempts per request at most ``bound``, when they are known."""
    if me.attempts_per_request is None:
        return []
    return [
        Target(
            f"attempts per request ≤ {bound}",
            f"{me.attempts_per_request:.2f}",
            f"{bound}",
            me.attempts_per_request <= bound,
        )
    ]


def _cost(me: Metrics, oracles: dict[str, Metrics], cost_floor_usd: float | None) -> list[Target]:
    """The upper cost per image against each oracle's, then against the cheapest image."""
    references = [(n, m.cost_per_image_usd) for n, m in oracles.items()]
    if cost_floor_usd is not None:
        references.append(("cheapest image", cost_floor_usd))
    cost = me.cost_per_image_upper_usd
    targets = []
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
    return targets


def _peers(me: Metrics, metrics: dict[str, Metrics]) -> list[Target]:
    """Against every peer that ran: higher success and lower p95."""
    return [
        Target(
            f"beats {name} on success and p95",
            f"{me.success_rate:.1%}, p95 {_s(me.p95_s)}",
            f"{peer.success_rate:.1%}, p95 {_s(peer.p95_s)}",
            _beats(me, peer),
        )
        for name, peer in metrics.items()
        if name in PEERS
    ]


def _beats(me: Metrics, peer: Metrics) -> bool:
    """At least the peer's success and a lower p95; when both p95s are ∞, more success."""
    if math.isinf(me.p95_s) and math.isinf(peer.p95_s):
        return me.success_rate > peer.success_rate
    return me.success_rate >= peer.success_rate and me.p95_s < peer.p95_s


def _sanity(me: Metrics) -> list[Target]:
    """No request faster than the latency oracle (not judged for the oracles themselves)."""
    if me.oracle_violations is None:
        return []
    return [
        Target(
            "never faster than the latency oracle (sanity)",
            str(me.oracle_violations),
            "0",
            me.oracle_violations == 0,
        )
    ]


PRESET_CONTENDERS: Final = ("imagegate-latency", "imagegate-balanced", "imagegate-quality")
"""The contenders that run one preset each (docs/presets.md)."""


def check_preset_targets(metrics: dict[str, Metrics]) -> list[Target]:
    """Each preset that ran against the targets of its own (docs/presets.md), named after
    it, and against every peer that ran::

        imagegate-latency    p95 ≤ 2× the latency oracle's p95
        imagegate-balanced   ≤ 1.5 attempts per request, ≥ 25% at the requested size
        imagegate-quality    ≥ 50% of the quality oracle's share at the requested size,
                             p95 ≤ 1.25× the quality oracle's p95
        each of them         beats every peer on success and p95
    """
    latency, quality = metrics.get("oracle"), metrics.get("oracle-quality")
    targets: list[Target] = []
    for name in PRESET_CONTENDERS:
        me = metrics.get(name)
        if me is None:
            continue
        own: list[Target] = []
        if name == "imagegate-latency" and latency is not None:
            own.append(_within(me.p95_s, 2.0, latency.p95_s, "p95 ≤ 2× oracle p95"))
        if name == "imagegate-balanced":
            own.extend(_attempts(me, 1.5))
            own.append(Target("≥ 25% at size", f"{me.at_size:.1%}", "25.0%", me.at_size >= 0.25))
        if name == "imagegate-quality" and quality is not None:
            half = 0.5 * quality.at_size
            own.append(
                Target("≥ 50% of oracle-quality at size", f"{me.at_size:.1%}", f"{half:.1%}",
                       me.at_size >= half)
            )  # fmt: skip
            own.append(_within(me.p95_s, 1.25, quality.p95_s, "p95 ≤ 1.25× oracle-quality p95"))
        for target in (*own, *_peers(me, metrics)):
            targets.append(Target(f"{name}: {target.name}", target.value, target.limit, target.met))
    return targets


def _within(value: float, factor: float, reference: float, name: str) -> Target:
    bound = factor * reference
    return Target(
        name,
        _s(value) + _ratio(value, reference),
        _s(bound),
        None if math.isinf(bound) else value <= bound,
    )

"""Each preset against the targets of its own, and against every peer."""

from __future__ import annotations

from imagegate.bench._metrics import Metrics
from imagegate.bench._targets import check_preset_targets


def _m(name: str, *, success: float = 1.0, at_size: float = 0.0, p95: float = 10.0,
       attempts: float | None = 1.0) -> Metrics:  # fmt: skip
    return Metrics(
        contender=name, requests=100, successes=int(success * 100), success_rate=success,
        at_size=at_size, sizes={}, p50_s=p95 / 2, p95_s=p95, p99_s=p95, p50_ok_s=None,
        p95_ok_s=None, attempts_per_request=attempts, billed_usd=0.0, possibly_billed_usd=0.0,
        cost_per_image_usd=None, cost_per_image_upper_usd=None, wall_s=0.0,
    )  # fmt: skip


def _verdicts(metrics: dict[str, Metrics]) -> dict[str, bool | None]:
    return {t.name: t.met for t in check_preset_targets(metrics)}


def test_each_preset_is_judged_on_its_own_axis_and_against_the_peers() -> None:
    """latency on p95 against the latency oracle, balanced on attempts and size, quality
    on its share at size and p95 against the quality oracle; each against every peer."""
    metrics = {
        "waterfall": _m("waterfall", success=0.98, p95=268.0),
        "imagegate-latency": _m("imagegate-latency", p95=29.0),
        "imagegate-balanced": _m("imagegate-balanced", at_size=0.24, p95=234.0, attempts=1.48),
        "imagegate-quality": _m("imagegate-quality", at_size=0.47, p95=290.0, attempts=1.8),
        "oracle": _m("oracle", p95=15.0, attempts=2.0),
        "oracle-quality": _m("oracle-quality", at_size=0.93, p95=227.0, attempts=2.0),
    }
    assert _verdicts(metrics) == {
        "imagegate-latency: p95 ≤ 2× oracle p95": True,  # 29 ≤ 30
        "imagegate-latency: beats waterfall on success and p95": True,
        "imagegate-balanced: attempts per request ≤ 1.5": True,
        "imagegate-balanced: ≥ 25% at size": False,  # 24%
        "imagegate-balanced: beats waterfall on success and p95": True,
        "imagegate-quality: ≥ 50% of oracle-quality at size": True,  # 47% ≥ 46.5%
        "imagegate-quality: p95 ≤ 1.25× oracle-quality p95": False,  # 290 > 283.75
        "imagegate-quality: beats waterfall on success and p95": False,  # slower at p95
    }


def test_presets_that_did_not_run_and_missing_oracles_are_not_judged() -> None:
    """Only the presets that ran are judged; a target needing an absent oracle is left out."""
    metrics = {"imagegate-latency": _m("imagegate-latency"), "backoff": _m("backoff", p95=99.0)}
    assert _verdicts(metrics) == {"imagegate-latency: beats backoff on success and p95": True}

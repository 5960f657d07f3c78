"""Figures from records and events: percentiles with failures, cost, abandoned attempts."""

from __future__ import annotations

import math

import pytest

from imagegate.bench import BenchRequest, RequestRecord
from imagegate.bench._metrics import percentile, summarize
from imagegate.bench._oracle import OracleChoice
from imagegate.testing.simulator import SimEvent


def _event(
    prompt: str,
    outcome: str,
    *,
    planned: str = "",
    billed: bool = False,
    provider: str = "gemini",
    started: float = 0.0,
    latency_s: float = 10.0,
) -> SimEvent:
    return SimEvent(
        provider=provider, model="m", size="4K", aspect_ratio="1:1", n=1, prompt=prompt,
        attempt=0, outcome=outcome, planned=planned or outcome, status=200, started=started,
        ended=started + latency_s, latency_s=latency_s, bytes_sent=0, billed=billed,
    )  # fmt: skip


def _price(provider: str, model: str) -> float:
    return {"gemini": 0.05, "vertex": 0.08}[provider]


def test_percentile_is_nearest_rank_and_sorts_failures_last() -> None:
    """p50 of four values is the second; failures (inf) sort last."""
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.0
    assert percentile([1.0, math.inf, math.inf, math.inf], 50) == math.inf
    assert percentile([5.0], 99) == 5.0
    with pytest.raises(ValueError, match="nothing"):
        percentile([], 50)


def test_summarize_counts_success_size_cost_and_abandoned_attempts() -> None:
    """Two requests: one served at 4K, one failed after hanging up on a would-be success."""
    requests = [BenchRequest(0, "p0", "4K"), BenchRequest(1, "p1", "4K")]
    records = [
        RequestRecord(0, True, 40.0, "4K", "gemini/m", None, 0.0),
        RequestRecord(1, False, 600.0, None, None, "deadline: cut", 0.0),
    ]
    events = [
        _event("p0", "success", billed=True),
        _event("p1", "overloaded"),
        _event("p1", "disconnected", planned="success", provider="vertex", started=5.0),
        _event("elsewhere", "success", billed=True),  # not a request of this run
    ]
    oracle = [OracleChoice(True, 30.0, "2K", "flux/x", 0, 0.06)] * 2
    m = summarize("c", records, requests, wall_s=1.0, events=events, price_usd=_price,
                  oracle=oracle)  # fmt: skip
    assert m.successes == 1
    assert m.success_rate == 0.5
    assert m.at_size == 0.5
    assert m.p50_s == 40.0
    assert math.isinf(m.p95_s)
    assert m.p95_ok_s == 40.0
    assert m.attempts_per_request == 1.5
    assert m.billed_usd == pytest.approx(0.05)
    assert m.possibly_billed_usd == pytest.approx(0.08)
    assert m.cost_per_image_usd == pytest.approx(0.05)
    assert m.cost_per_image_upper_usd == pytest.approx(0.13)
    assert (m.abandoned, m.rescuable) == (1, 1)
    assert m.oracle_violations == 0
    assert m.errors == {"deadline": 1}


def test_a_request_faster_than_the_oracle_is_a_violation() -> None:
    """The runner flags what the oracle says is impossible."""
    requests = [BenchRequest(0, "p0", "4K")]
    records = [RequestRecord(0, True, 10.0, "4K", "gemini/m", None, 0.0)]
    oracle = [OracleChoice(True, 30.0, "2K", "flux/x", 0, 0.06)]
    m = summarize("c", records, requests, wall_s=1.0, events=[], price_usd=_price, oracle=oracle)
    assert m.oracle_violations == 1

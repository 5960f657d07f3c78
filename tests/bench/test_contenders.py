"""Each contender runs on a small outage, and the oracle is a true lower bound on it.

No timing is asserted: what a contender achieves depends on the machine. What must hold
on any machine is that no contender serves a request the latency oracle says is
impossible, or faster than the oracle says is possible.
"""

from __future__ import annotations

from collections import Counter

import pytest

from imagegate.bench import CONTENDERS, ORACLE, BenchConfig, judge, run_scenario
from imagegate.testing.simulator import World, load_scenario

from .conftest import FAST, needs

_N = 8


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=needs("litellm")) if n == "litellm" else n for n in CONTENDERS],
)
async def test_contender_runs_and_the_oracle_bounds_it(name: str) -> None:
    """Every request gets a record; the oracle is at least as fast and as successful."""
    config = BenchConfig(
        requests=_N,
        concurrency=_N,
        time_scale=FAST,
        time_scale_floor={},
        contenders=(name, ORACLE),
        seed=3,
    )
    result = await run_scenario("outage-2026-01-21", config)
    metrics = result.metrics[name]
    run = result.runs[name]
    assert len(run.records) == _N
    assert sorted(r.index for r in run.records) == list(range(_N))
    assert run.events, "the contender sent nothing upstream"
    assert metrics.attempts_per_request is not None
    assert metrics.attempts_per_request > 0
    oracle = result.metrics["oracle"]
    assert oracle.success_rate >= metrics.success_rate
    assert metrics.oracle_violations == 0
    for record in run.records:
        bound = result.verdicts[record.index].latency
        if record.ok:
            assert bound.ok, f"request {record.index} served where the oracle sees nothing"
            assert record.latency_s >= bound.latency_s, f"request {record.index} beat the oracle"
            assert record.size is not None


async def test_the_bound_holds_with_every_attempt_the_contenders_made() -> None:
    """Recomputed with as many attempts per option as any contender used, still a bound."""
    names = tuple(n for n in CONTENDERS if n != "litellm")
    config = BenchConfig(
        requests=_N, concurrency=_N, time_scale=FAST, contenders=(*names, ORACLE), seed=5
    )
    result = await run_scenario("overload-503", config)
    per_option = Counter(
        (e.prompt, e.provider, e.size) for run in result.runs.values() for e in run.events or []
    )
    most = max(per_option.values())
    world = World(load_scenario("overload-503"), seed=config.seed)
    for request in result.requests:
        bound = judge(world, request, config.routes, max_attempts=most).latency
        for name in names:
            record = result.runs[name].records[request.index]
            if record.ok:
                assert bound.ok
                assert record.latency_s >= bound.latency_s, (name, request.index)

"""``--live`` without real providers: keys from a given environment, the budget guard, and
the whole live path against a simulator in another process posing as the real services."""

from __future__ import annotations

import io

import pytest

from imagegate.bench import BenchConfig
from imagegate.bench._live import (
    BudgetGuard,
    BudgetStop,
    confirm,
    live_endpoints,
    plan_live,
    run_live,
)
from imagegate.bench._serve import SimulatorProcess, fixed_latency_scenario


def test_no_keys_no_endpoints() -> None:
    """An empty environment configures nothing and says what to set."""
    endpoints, notes = live_endpoints({})
    assert endpoints == {}
    assert len(notes) == 5
    assert plan_live(BenchConfig(), budget_usd=1.0, environ={}) is None


def test_baselines_need_ai_studio() -> None:
    """With only an OpenAI key the field's clients are skipped, with a note."""
    plan = plan_live(BenchConfig(), budget_usd=1.0, environ={"OPENAI_API_KEY": "k"})
    assert plan is not None
    assert "waterfall" not in plan.contenders
    assert "imagegate" in plan.contenders
    assert any("waterfall skipped" in n for n in plan.notes)
    assert any("oracle skipped" in n for n in plan.notes)


def test_confirmation_needs_yes_off_a_terminal() -> None:
    """The cost warning is always printed; without --yes and a terminal, nothing runs."""
    plan = plan_live(BenchConfig(), budget_usd=3.0, environ={"OPENAI_API_KEY": "k"})
    assert plan is not None
    out = io.StringIO()
    assert not confirm(plan, assume_yes=False, out=out)
    assert "WARNING" in out.getvalue()
    assert "$3.00" in out.getvalue()
    assert confirm(plan, assume_yes=True, out=io.StringIO())


async def test_live_path_against_a_stand_in_and_the_budget_guard() -> None:
    """Every contender runs on the stand-in; a tiny budget stops the requests up front."""
    async with SimulatorProcess(fixed_latency_scenario(0.0)) as server:
        environ = {
            "GEMINI_API_KEY": server.keys["gemini"],
            "GOOGLE_GEMINI_BASE_URL": server.base_urls["gemini"],
            "OPENAI_API_KEY": server.keys["openai"],
            "OPENAI_BASE_URL": server.base_urls["openai"],
        }
        config = BenchConfig(
            requests=2, concurrency=2, contenders=("waterfall", "imagegate", "oracle")
        )
        plan = plan_live(config, budget_usd=10.0, environ=environ)
        assert plan is not None
        assert plan.contenders == ["waterfall", "imagegate"]
        result = await run_live(config, plan)
        for name in plan.contenders:
            metrics = result.metrics[name]
            assert metrics.requests == 2
            assert metrics.successes == 2
            assert metrics.attempts_per_request is not None
            assert metrics.attempts_per_request >= 1
        broke = plan_live(config, budget_usd=0.01, environ=environ)
        assert broke is not None
        stopped = await run_live(config, broke)
        assert all(m.successes == 0 for m in stopped.metrics.values())
        assert any("budget" in n for n in stopped.notes)


class _Counting:
    """A contender stand-in that only counts calls."""

    name = "counting"

    def __init__(self, calls: int) -> None:
        self.calls = calls

    def calls_made(self) -> int:
        return self.calls


def test_budget_guard_counts_every_call_and_requests_in_flight() -> None:
    """Two calls at $0.08 leave room for one more request under $0.25, not two."""
    guard = BudgetGuard(0.25, 0.08)
    counting = _Counting(2)
    guard.watch(counting)  # type: ignore[arg-type]
    assert guard.spent_usd() == pytest.approx(0.16)
    guard.admit()
    guard.in_flight = 1
    with pytest.raises(BudgetStop):
        guard.admit()
    assert not guard.exhausted()
    counting.calls = 4
    assert guard.exhausted()

"""The oracle: outcomes are a pure function of (seed, prompt, provider, model, size, k)."""

from __future__ import annotations

from collections import Counter

import pytest

from imagegate._request import Size
from imagegate.testing.simulator import (
    BILLED_KINDS,
    Latency,
    PlannedOutcome,
    Profile,
    Scenario,
    World,
    load_scenario,
    parse_markers,
)
from imagegate.testing.simulator._world import sample

OUTAGE = load_scenario("outage-2026-01-21")
PROMPTS = [f"prompt {i}" for i in range(2000)]


def _plan(
    world: World, prompt: str, provider: str = "gemini", size: Size = "1K", k: int = 0
) -> PlannedOutcome:
    return world.plan(
        prompt=prompt, provider=provider, model="gemini-3-pro-image", size=size, attempt=k
    )


def test_plan_is_pure() -> None:
    """The same question gets the same answer, from the same or another World."""
    first = [_plan(World(OUTAGE, seed=7), p, size="2K") for p in PROMPTS[:50]]
    again = [_plan(World(OUTAGE, seed=7), p, size="2K") for p in PROMPTS[:50]]
    assert first == again


def test_seed_and_attempt_change_the_world() -> None:
    """Another seed, or the next attempt, draws independently."""
    base = [_plan(World(OUTAGE, seed=0), p, size="2K") for p in PROMPTS[:50]]
    other_seed = [_plan(World(OUTAGE, seed=1), p, size="2K") for p in PROMPTS[:50]]
    retry = [_plan(World(OUTAGE, seed=0), p, size="2K", k=1) for p in PROMPTS[:50]]
    assert base != other_seed
    assert base != retry
    assert {p.kind for p in retry} >= {"success"}


@pytest.mark.parametrize(
    ("provider", "size", "share", "low", "high"),
    [
        ("gemini", "1K", 0.95, 15, 30),
        ("gemini", "2K", 0.70, 45, 90),
        ("gemini", "4K", 0.15, 120, 400),
        ("openai_compatible", "4K", 0.15, 121, 401),
        ("vertex", "1K", 0.98, 12, 25),
        ("vertex", "2K", 0.90, 40, 80),
        ("vertex", "4K", 0.50, 90, 240),
    ],
)
def test_outage_success_rates_and_latencies(
    provider: str, size: Size, share: float, low: float, high: float
) -> None:
    """Over 2,000 prompts the outage reproduces its success rates and latency ranges."""
    world = World(OUTAGE, seed=0)
    plans = [_plan(world, p, provider, size) for p in PROMPTS]
    successes = [p for p in plans if p.kind == "success"]
    assert abs(len(successes) / len(plans) - share) < 0.03
    assert all(low <= p.latency_s <= high for p in successes)
    assert all(p.billed and p.delivered_size == size for p in successes)


def test_outage_failures_are_fast_503s_or_deadlines() -> None:
    """AI Studio 2K fails half with a 503 within 2 s, half with a 504 at the 600 s deadline."""
    world = World(OUTAGE, seed=0)
    failures: Counter[str] = Counter()
    for prompt in PROMPTS:
        plan = _plan(world, prompt, size="2K")
        if plan.kind == "overloaded":
            assert 0.5 <= plan.latency_s <= 2
        elif plan.kind == "deadline":
            assert plan.latency_s == 600
        failures[plan.kind] += 1
    assert set(failures) == {"success", "overloaded", "deadline"}
    assert abs(failures["overloaded"] - failures["deadline"]) < 0.05 * len(PROMPTS)
    vertex = [_plan(world, p, "vertex", "2K") for p in PROMPTS[:300]]
    assert {p.latency_s for p in vertex if p.kind == "deadline"} == {300}


def test_billing_follows_the_kind() -> None:
    """Only outcomes where the provider finished the work are billed."""
    assert {"success", "size_ignored", "text_refusal", "truncated"} <= BILLED_KINDS
    assert not {"overloaded", "deadline", "prompt_blocked", "image_safety"} & BILLED_KINDS
    world = World(OUTAGE, seed=0)
    for prompt in PROMPTS[:200]:
        plan = _plan(world, prompt, size="4K")
        assert plan.billed == (plan.kind == "success")


def test_markers_force_outcomes_in_sequence() -> None:
    """``[sim:a*2,b]`` plays a, a, then b for every later attempt."""
    world = World(OUTAGE, seed=0)
    prompt = "a lighthouse [sim:overloaded*2,success]"
    kinds = [_plan(world, prompt, size="4K", k=k).kind for k in range(5)]
    assert kinds == ["overloaded", "overloaded", "success", "success", "success"]
    assert all(_plan(world, prompt, size="4K", k=k).forced for k in range(3))


def test_markers_can_be_scoped_and_pin_latency() -> None:
    """A scope limits a marker to one provider (and size); ``~s`` pins the latency."""
    world = World(OUTAGE, seed=0)
    prompt = "x [sim@vertex/4K:deadline] [sim@gemini:success~3]"
    assert _plan(world, prompt, "vertex", "4K").kind == "deadline"
    assert _plan(world, prompt, "vertex", "4K").latency_s == 600
    gemini = _plan(world, prompt, "gemini", "4K")
    assert (gemini.kind, gemini.latency_s) == ("success", 3)
    assert not _plan(world, prompt, "vertex", "1K").forced


def test_a_success_slower_than_the_deadline_is_a_deadline() -> None:
    """The server gives up at its deadline, whatever the planned latency."""
    plan = _plan(World(OUTAGE, seed=0), "x [sim:success~900]", size="4K")
    assert (plan.kind, plan.latency_s, plan.billed) == ("deadline", 600, False)


def test_size_ignored_delivers_the_next_tier_down() -> None:
    """A size_ignored success delivers one tier less (none below 1K)."""
    world = World(OUTAGE, seed=0)
    assert _plan(world, "x [sim:size_ignored]", size="4K").delivered_size == "2K"
    assert _plan(world, "x [sim:size_ignored]", size="1K").delivered_size is None
    assert _plan(world, "x [sim:size_ignored]", size="1K").delivers_image


@pytest.mark.parametrize(
    "prompt",
    ["x [sim:explode]", "x [sim@dalle:success]", "x [sim@gemini/8K:success]", "x [sim:]"],
)
def test_bad_markers_are_errors(prompt: str) -> None:
    """A marker that names nothing known is a ValueError, never silently ignored."""
    with pytest.raises(ValueError, match="marker"):
        parse_markers(prompt)


def test_markers_can_be_switched_off() -> None:
    """With ``markers = false`` a marker is just text."""
    scenario = OUTAGE.model_copy(update={"markers": False})
    kinds = {_plan(World(scenario), f"{p} [sim:internal]").kind for p in PROMPTS[:50]}
    assert "internal" not in kinds


def test_unserved_models_raise_lookup_error() -> None:
    """A scenario without a matching profile cannot plan."""
    scenario = Scenario(name="only-flux", profiles=(Profile(provider="flux"),))
    with pytest.raises(LookupError, match="no profile for gemini/gemini-3-pro-image 1K"):
        _plan(World(scenario), "x")


def test_lognormal_latency_hits_its_percentiles() -> None:
    """``{p50, p95}`` is a log-normal with that median and 95th percentile."""
    latency = Latency(p50=20, p95=60)
    assert sample(latency, 0.5) == pytest.approx(20)
    assert sample(latency, 0.95) == pytest.approx(60)
    assert sample(Latency(min=1, max=3), 0.25) == pytest.approx(1.5)
    assert sample(Latency(fixed=4), 0.9) == 4


def test_weights_draw_in_proportion() -> None:
    """Relative weights become probabilities."""
    profile = Profile(provider="openai", outcomes={"success": 3, "internal": 1, "reset": 0})
    world = World(Scenario(name="w", profiles=(profile,)), seed=3)
    kinds = Counter(
        world.plan(prompt=p, provider="openai", model="m", size="1K").kind for p in PROMPTS
    )
    assert set(kinds) == {"success", "internal"}
    assert abs(kinds["internal"] / len(PROMPTS) - 0.25) < 0.03


def test_overload_is_mostly_503s_and_slow() -> None:
    """overload-503: 503 is at least 70% of Gemini's errors; answers take 60–100 s at 1K."""
    world = World(load_scenario("overload-503"), seed=0)
    plans = [_plan(world, p) for p in PROMPTS]
    errors = [p.kind for p in plans if p.kind not in ("success", "size_ignored")]
    assert errors.count("overloaded") / len(errors) >= 0.7
    slow = [p.latency_s for p in plans if p.kind == "success"]
    assert min(slow) >= 60
    assert max(slow) <= 100

"""Scenarios: built-ins load, user files are validated with clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate.testing.simulator import (
    PLANNED_KINDS,
    Latency,
    Profile,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
)


def test_builtins_are_shipped() -> None:
    """The four built-in scenarios ship with the package."""
    assert builtin_scenarios() == ["free-tier", "healthy", "outage-2026-01-21", "overload-503"]
    for name in builtin_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.description


@pytest.mark.parametrize("name", ["healthy", "outage-2026-01-21", "overload-503", "free-tier"])
@pytest.mark.parametrize("provider", ["gemini", "vertex", "openai", "openai_compatible", "flux"])
def test_builtins_serve_every_provider_and_size(name: str, provider: str) -> None:
    """Every built-in has a profile for every provider at every size."""
    scenario = load_scenario(name)
    for size in ("1K", "2K", "4K"):
        assert scenario.profile_for(provider, "any-model-id", size) is not None


def test_every_failure_kind_appears_in_some_builtin() -> None:
    """Each planned kind, and size_ignored, occurs somewhere at a nonzero rate."""
    weighted = set()
    ignores_size = False
    for name in builtin_scenarios():
        for profile in load_scenario(name).profiles:
            weighted |= {kind for kind, weight in profile.outcomes.items() if weight > 0}
            ignores_size |= profile.size_ignored > 0
    assert weighted == set(PLANNED_KINDS)
    assert ignores_size


def test_outage_profile_matches_its_description() -> None:
    """AI Studio at 4K: 15% success in 120–400 s, the rest 504 at the 600 s deadline."""
    profile = load_scenario("outage-2026-01-21").profile_for("gemini", "gemini-3-pro-image", "4K")
    assert profile is not None
    assert profile.outcomes == {"success": 15, "deadline": 85}
    assert (profile.latency_s.min, profile.latency_s.max, profile.deadline_s) == (120, 400, 600)
    vertex = load_scenario("outage-2026-01-21").profile_for("vertex", "m", "2K")
    assert vertex is not None
    assert vertex.deadline_s == 300


def test_free_tier_quota() -> None:
    """free-tier: 2 images a day and 5 requests a minute on Gemini."""
    profile = load_scenario("free-tier").profile_for("gemini", "gemini-2.5-flash-image", "1K")
    assert profile is not None
    assert (profile.ipd, profile.rpm) == (2, 5)


def test_unknown_builtin_lists_the_choices() -> None:
    """A misspelt name says which built-ins exist."""
    with pytest.raises(ScenarioError, match="built-ins are: free-tier, healthy"):
        load_scenario("outage")


def test_user_file_is_loaded_and_named_after_its_stem(tmp_path: Path) -> None:
    """A TOML file without a name takes its file name."""
    path = tmp_path / "my-outage.toml"
    path.write_text(
        '[[profiles]]\nprovider = "gemini"\nmodel = "gemini-3*"\nsize = ["2K", "4K"]\n'
        "latency_s = { p50 = 100, p95 = 300 }\noutcomes = { success = 1, overloaded = 1 }\n"
    )
    scenario = load_scenario(path)
    assert scenario.name == "my-outage"
    assert scenario.profile_for("gemini", "gemini-3-pro-image", "4K") is not None
    assert scenario.profile_for("gemini", "gemini-3-pro-image", "1K") is None
    assert scenario.profile_for("gemini", "gemini-2.5-flash-image", "4K") is None
    assert load_scenario(str(path)) == scenario


def test_bad_fields_are_reported_with_their_location(tmp_path: Path) -> None:
    """Each invalid field is named with its path inside the file."""
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[profiles]]\nprovider = "gemini"\n'
        '[[profiles]]\nprovider = "dalle"\nlatency_s = { min = 5, max = 1 }\n'
        "outcomes = { succes = 1 }\n"
    )
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "profiles[1].provider" in message
    assert "profiles[1].latency_s" in message
    assert "min (5.0) is larger than max (1.0)" in message
    assert "profiles[1].outcomes.succes" in message


def test_invalid_toml_is_reported(tmp_path: Path) -> None:
    """A TOML syntax error names the file."""
    path = tmp_path / "broken.toml"
    path.write_text("[[profiles]\n")
    with pytest.raises(ScenarioError, match=r"broken\.toml is not valid TOML"):
        load_scenario(path)


def test_missing_file_is_reported(tmp_path: Path) -> None:
    """A path that does not exist gives a ScenarioError, not an OSError."""
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "nope.toml")


def test_size_ignored_is_not_an_outcome_weight() -> None:
    """The error points to the probability field instead."""
    with pytest.raises(ScenarioError, match="set `size_ignored = p`"):
        load_scenario(
            {
                "name": "x",
                "profiles": [{"provider": "gemini", "outcomes": {"size_ignored": 1}}],
            }
        )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({}, "give exactly one of"),
        ({"min": 1, "max": 2, "fixed": 3}, "got min/max and fixed"),
        ({"min": 1}, "min and max go together"),
        ({"p50": 5, "p95": 2}, r"p50 \(5.0\) is larger than p95"),
    ],
)
def test_latency_forms(fields: dict[str, float], message: str) -> None:
    """A latency is exactly one of min/max, p50/p95 or fixed."""
    with pytest.raises(ValueError, match=message):
        Latency(**fields)


def test_weights_must_be_positive() -> None:
    """All-zero weights cannot pick an outcome."""
    with pytest.raises(ValueError, match="add up to more than 0"):
        Profile(provider="flux", outcomes={"success": 0})


def test_scenario_built_in_code() -> None:
    """Tests can build a scenario from the models; a bare number is a fixed latency."""
    scenario = Scenario(
        name="in-code",
        profiles=(Profile.model_validate({"provider": "openai", "latency_s": 3}),),
    )
    assert load_scenario(scenario) is scenario
    profile = scenario.profile_for("openai", "gpt-image-1", "2K")
    assert profile is not None
    assert profile.latency_s == Latency(fixed=3)

"""One configuration for Router arguments and Router.from_config: TOML files, mappings and
keyword arguments are checked by the same model, and every mistake is reported at load
with the file, the path of the key and the closest known key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagegate import (
    AdmissionPolicy,
    AttemptTimeoutPolicy,
    BreakerPolicy,
    FakeClock,
    HedgePolicy,
    RateLimit,
    RetryPolicy,
    Route,
    Router,
)
from imagegate._presets import PRESETS
from imagegate.errors import ConfigurationError
from imagegate.testing import FakeProvider

CONFIG = """
max_in_flight = 4
attempt_timeout_s = 300
budget_usd = 2.5
strategy = "cheapest"

[retry]
attempts = 2
wait_max_s = 10

[breaker]
failure_rate = 0.6

[hedge]
size = "1K"
delay_s = 45

[[routes]]
provider = "fake"
model = "primary"
rate_limit = { rpm = 10, rpd = 100, margin_s = 2.5 }
max_concurrency = 2
latency_s = 3.0

[[routes]]
provider = "fake"
model = "spare"
backup = true
"""

FAKE = {"provider": "fake", "model": "m"}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "imagegate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(source: Any, **overrides: Any) -> str:
    """The message of the ConfigurationError that loading ``source`` raises."""
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(source, **overrides)
    return str(info.value)


async def test_toml_file_builds_a_working_router(tmp_path: Path, clock: FakeClock) -> None:
    """Every section lands in the router, extra route keys become provider options."""
    router = Router.from_config(_write(tmp_path, CONFIG), clock=clock)
    engine = router.engine
    assert engine.retry.attempts == 2
    assert engine.hedge is not None
    assert engine.hedge.delay_s == 45
    assert engine.strategy == "cheapest"
    assert engine.ledger.limit_usd == 2.5
    primary, spare = router.routes
    assert primary.rate_limit is not None
    assert (primary.rate_limit.rpm, primary.rate_limit.margin_s) == (10, 2.5)
    assert spare.rate_limit is None
    assert (primary.max_concurrency, primary.options["latency_s"], spare.backup) == (2, 3.0, True)
    async with router:
        result = await router.generate("x")
    assert (result.route, result.latency_s) == ("fake/primary", 3.0)


def test_a_file_and_keyword_arguments_mean_the_same() -> None:
    """The same settings written in a mapping and as Router arguments build the same
    policies, and what is left out comes from the preset in both."""
    from_file = Router.from_config(
        {
            "routes": [FAKE, {**FAKE, "model": "n", "backup": True, "rate_limit": {"rpm": 5}}],
            "preset": "latency",
            "retry": {"attempts": 4},
            "admission": False,
            "order": "ladder",
        }
    ).engine
    from_kwargs = Router(
        [
            Route("fake", model="m"),
            Route("fake", model="n", backup=True, rate_limit=RateLimit(rpm=5)),
        ],
        preset="latency",
        retry=RetryPolicy(attempts=4),
        admission=None,
        order="ladder",
    ).engine
    for engine in (from_file, from_kwargs):
        assert engine.retry == RetryPolicy(attempts=4)
        assert (engine.admission, engine.load, engine.order) == (None, None, "ladder")
        assert engine.hedge == PRESETS["latency"].hedge
        assert engine.timeouts == PRESETS["latency"].timeouts
        assert engine.breakers.policy == PRESETS["latency"].breaker
        assert [(r.name, r.backup, r.rate_limit) for r in engine.routes] == [
            ("fake/m", False, None),
            ("fake/n", True, RateLimit(rpm=5)),
        ]


def test_every_policy_can_be_set_or_turned_off_in_a_file() -> None:
    """timeouts, admission and order are set like the other sections; false turns a
    policy off, as None does in Python."""
    on = Router.from_config(
        {
            "routes": [FAKE],
            "timeouts": {"factor": 3.0},
            "admission": {"min_success_rate": 0.3},
            "order": "likely",
        }
    ).engine
    assert on.timeouts == AttemptTimeoutPolicy(factor=3.0)
    assert on.admission == AdmissionPolicy(min_success_rate=0.3)
    assert on.order == "likely"
    off = Router.from_config(
        {"routes": [FAKE], "hedge": False, "timeouts": False, "admission": False}
    ).engine
    assert (off.hedge, off.timeouts, off.admission) == (None, None, None)


def test_policies_given_as_objects_are_used_as_given() -> None:
    """A policy object passed to Router is the one the engine uses, not a copy."""
    breaker, hedge = BreakerPolicy(failure_rate=0.7), HedgePolicy(size="1K")
    engine = Router([Route("fake", model="m")], breaker=breaker, hedge=hedge).engine
    assert engine.breakers.policy is breaker
    assert engine.hedge is hedge


def test_overrides_win_over_the_file(tmp_path: Path) -> None:
    """Keyword arguments given to from_config replace the file's."""
    router = Router.from_config(_write(tmp_path, CONFIG), max_in_flight=9, hedge=None)
    assert router.engine.dispatcher.statistics().max_in_flight == 9
    assert router.engine.hedge is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (  # a top-level key
            'presett = "quality"\n[[routes]]\nprovider = "fake"\nmodel = "m"\n',
            "presett is not a known key; did you mean `preset`?",
        ),
        (  # a section key
            '[retry]\nattempt = 3\n[[routes]]\nprovider = "fake"\nmodel = "m"\n',
            "retry.attempt is not a known key; did you mean `attempts`?",
        ),
        (  # a route key
            '[[routes]]\nprovider = "fake"\nmodel = "m"\n'
            '[[routes]]\nprovider = "fake"\nmodel = "n"\n'
            '[[routes]]\nprovider = "gemini"\nmodel = "g"\nbackpu = true\n',
            "routes[2].backpu is neither a route setting nor an option of 'gemini'; "
            "did you mean `backup`?",
        ),
        (  # a policy argument inside a route
            '[[routes]]\nprovider = "fake"\nmodel = "m"\nrate_limit = { rpmm = 10 }\n',
            "routes[0].rate_limit.rpmm is not a known key; did you mean `rpm`?",
        ),
        (  # a choice
            'preset = "balance"\n[[routes]]\nprovider = "fake"\nmodel = "m"\n',
            "preset must be one of latency, balanced, quality, got 'balance'; "
            "did you mean `balanced`?",
        ),
        (  # a choice inside a section, case aside
            '[hedge]\nsize = "4k"\n[[routes]]\nprovider = "fake"\nmodel = "m"\n',
            "hedge.size must be one of 1K, 2K, 4K, got '4k'; did you mean `4K`?",
        ),
        (  # a provider name
            '[[routes]]\nprovider = "gemnii"\nmodel = "m"\n',
            "routes[0].provider: unknown provider 'gemnii' (known: ",
        ),
    ],
)
def test_a_typo_in_a_file_names_the_file_the_key_and_the_fix(
    tmp_path: Path, text: str, problem: str
) -> None:
    """A misspelt key or choice at any level is reported when the file is loaded, with
    the file, the path of the key and the closest known one."""
    path = _write(tmp_path, text)
    message = _problems(path)
    assert message.startswith(f"{path}: ")
    assert problem in message


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    """One load reports all the mistakes in the file, one line each."""
    path = _write(
        tmp_path,
        'strategy = "cheap"\nmax_in_flight = 0\n[breaker]\nfailure_rat = 0.5\n'
        '[[routes]]\nprovider = "openai"\nmodel = "gpt-image-1.5"\nqualty = "high"\n'
        "rate_limit = { rpm = 0 }\n",
    )
    lines = _problems(path).splitlines()
    assert lines[0] == f"{path}: 5 problems:"
    assert lines[1:] == [
        "  - routes[0].rate_limit: rpm must be at least 1, got 0",
        "  - routes[0].qualty is neither a route setting nor an option of 'openai'; "
        "did you mean `quality`?",
        "  - max_in_flight must be at least 1",
        "  - breaker.failure_rat is not a known key; did you mean `failure_rate`?",
        "  - strategy must be one of priority, cheapest, fastest, weighted, got 'cheap'; "
        "did you mean `cheapest`?",
    ]


def test_a_typo_in_keyword_arguments_is_reported_when_the_router_is_built() -> None:
    """A misspelt Route keyword of a built-in provider's route, or a misspelt choice,
    fails Router(...) with the argument's path, before anything is opened."""
    with pytest.raises(ConfigurationError) as info:
        Router(
            [Route("fake", model="m"), Route("openai", model="gpt-image-1.5", backpu=True)],
            order="soonst",  # type: ignore[arg-type]
        )
    assert str(info.value).splitlines()[1:] == [
        "  - routes[1].backpu is neither a route setting nor an option of 'openai'; "
        "did you mean `backup`?",
        "  - order must be one of ladder, likely, soonest, size-then-soonest, got 'soonst'; "
        "did you mean `soonest`?",
    ]


def test_a_typo_in_from_config_overrides_is_reported(tmp_path: Path) -> None:
    """Overrides are checked with the file."""
    message = _problems(_write(tmp_path, CONFIG), clok=None)
    assert (
        message == f"{tmp_path / 'imagegate.toml'}: clok is not a known key; did you mean `clock`?"
    )


@pytest.mark.parametrize(
    ("provider", "option", "typo", "suggestion"),
    [
        ("gemini", "api_version", "api_verison", "api_version"),
        ("vertex", "location", "locaton", "location"),
        ("openai", "quality", "qualty", "quality"),
        ("openai_compatible", "mode", "moed", "mode"),
        ("flux", "raw", "rwa", "raw"),
        ("fake", "latency_s", "latency", "latency_s"),
    ],
)
def test_built_in_providers_options_are_checked_at_load(
    provider: str, option: str, typo: str, suggestion: str
) -> None:
    """Each built-in provider's own options pass (``mode`` is no typo of ``model``), and a
    misspelt one is refused before any provider is built, naming the closest."""
    Router.from_config({"routes": [{"provider": provider, "model": "m", option: "v"}]})
    message = _problems({"routes": [{"provider": provider, "model": "m", typo: "v"}]})
    assert message == (
        f"config: routes[0].{typo} is neither a route setting nor an option of "
        f"{provider!r}; did you mean `{suggestion}`?"
    )


def test_options_of_provider_objects_are_left_to_them(clock: FakeClock) -> None:
    """A route built on a provider object carries any option: the object reads them."""
    Router([Route(FakeProvider(clock=clock), model="m", backpu=True)], clock=clock)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "config: routes is required"),
        ({"routes": []}, "config: routes must list at least one route"),
        ({"routes": [{"provider": "fake"}]}, "config: routes[0].model is required"),
        ({"routes": [{**FAKE, "model": ""}]}, "config: routes[0].model must not be empty"),
        ({"routes": [FAKE], "colour": 1}, "config: colour is not a known key"),
        (
            {"routes": [FAKE], "attempt_timeout_s": 0},
            "config: attempt_timeout_s must be greater than 0",
        ),
        ({"routes": [FAKE], "budget_usd": -1}, "config: budget_usd must be at least 0"),
        (
            {"routes": [FAKE], "retry": {"attempts": 0}},
            "config: retry: attempts must be at least 1",
        ),
        ({"routes": [FAKE], "retry": {"attempts": "x"}}, "config: retry.attempts: Input should be"),
        ({"routes": [FAKE], "clock": 3}, "config: clock must be a Clock"),
        (
            {"routes": [{**FAKE, "rate_limit": {"margin_s": -1}}]},
            "config: routes[0].rate_limit: margin_s must be zero or positive",
        ),
        (
            {"routes": [FAKE, FAKE]},
            "config: routes: route names must be unique; repeated: fake/m",
        ),
        (
            {"routes": [{**FAKE, "api_key": "AIza-secret-123456"}]},
            "config: routes[0].api_key is not read from a configuration: put the key in the "
            "environment and name the variable with api_key_env",
        ),
    ],
)
def test_bad_config_names_the_problem(config: dict[str, object], message: str) -> None:
    """Each mistake raises ConfigurationError saying where it is, never a key's value."""
    with pytest.raises(ConfigurationError) as info:
        Router.from_config(config)
    assert str(info.value).startswith(message)
    assert "AIza-secret" not in str(info.value)
    assert info.value.__cause__ is None  # pydantic's own text would repeat the values


def test_missing_or_broken_file(tmp_path: Path) -> None:
    """A missing file or invalid TOML is reported with the path."""
    with pytest.raises(ConfigurationError, match="not found"):
        Router.from_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("routes = [")
    with pytest.raises(ConfigurationError, match=r"bad\.toml: not valid TOML"):
        Router.from_config(bad)
    with pytest.raises(ConfigurationError, match="cannot be read"):
        Router.from_config(tmp_path)

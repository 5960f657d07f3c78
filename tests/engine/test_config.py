"""Router.from_config: TOML files and mappings, with errors naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import FakeClock, Router
from imagegate.errors import ConfigurationError

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


async def test_toml_file_builds_a_working_router(tmp_path: Path, clock: FakeClock) -> None:
    """Every section lands in the router, extra route keys become provider options."""
    path = tmp_path / "imagegate.toml"
    path.write_text(CONFIG)
    router = Router.from_config(path, clock=clock)
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


def test_hedge_false_disables_hedging() -> None:
    """hedge = false turns hedging off."""
    router = Router.from_config({"routes": [{"provider": "fake", "model": "m"}], "hedge": False})
    assert router.engine.hedge is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({}, "routes: Field required"),
        ({"routes": []}, "routes: List should have at least 1 item"),
        ({"routes": [{"provider": "fake"}]}, "routes.0.model: Field required"),
        ({"routes": [{"provider": "fake", "model": "m"}], "max_in_flight": 0}, "max_in_flight"),
        ({"routes": [{"provider": "fake", "model": "m"}], "colour": 1}, "colour"),
        (
            {"routes": [{"provider": "fake", "model": "m"}], "retry": {"attempts": 0}},
            r"\[retry\]: attempts must be at least 1",
        ),
        (
            {"routes": [{"provider": "fake", "model": "m"}], "retry": {"tries": 3}},
            r"\[retry\]: .*unexpected keyword argument 'tries'",
        ),
        (
            {"routes": [{"provider": "fake", "model": "m", "rate_limit": {"rpm": -1}}]},
            r"routes\[0\] \(fake/m\).rate_limit",
        ),
        (
            {"routes": [{"provider": "fake", "model": "m", "rate_limit": {"margin_s": -1}}]},
            r"routes\[0\] \(fake/m\).rate_limit\]: margin_s must be zero or positive",
        ),
        (
            {"routes": [{"provider": "fake", "model": "m", "api_key": "AIza-secret-123456"}]},
            "api_key_env",
        ),
    ],
)
def test_bad_config_names_the_problem(config: dict[str, object], message: str) -> None:
    """Each mistake raises ConfigurationError saying where it is."""
    with pytest.raises(ConfigurationError, match=message) as info:
        Router.from_config(config)
    assert "AIza-secret" not in str(info.value)


def test_missing_or_broken_file(tmp_path: Path) -> None:
    """A missing file or invalid TOML is reported with the path."""
    with pytest.raises(ConfigurationError, match="not found"):
        Router.from_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("routes = [")
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Router.from_config(bad)

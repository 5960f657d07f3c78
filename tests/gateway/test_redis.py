"""Two gateway replicas on one Redis share each client's budget and rpm."""

from __future__ import annotations

import openai
import pytest

from gateway.conftest import KEYS, MODEL, gateway_config, running
from imagegate.errors import ConfigurationError
from imagegate.gateway import GatewaySettings, shared_state
from imagegate.testing.simulator import Simulator
from state._redis import RedisServer


async def test_two_replicas_share_a_client_budget_and_rpm(
    sim: Simulator, redis_server: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bob's budget (one 4K image) and Carol's rpm (2) hold across both replicas."""
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    table = {"redis_url_env": "TEST_REDIS_URL", "redis_prefix": prefix}
    states = [shared_state(GatewaySettings.model_validate({"models": {"m": []}, **table}))]
    states.append(shared_state(GatewaySettings.model_validate({"models": {"m": []}, **table})))
    first, second = states
    assert first is not None
    assert second is not None
    try:
        async with (
            running(gateway_config(sim), clock=sim.clock, state=first) as one,
            running(gateway_config(sim), clock=sim.clock, state=second) as two,
        ):
            async with one.client(KEYS["bob"]) as bob_one, two.client(KEYS["bob"]) as bob_two:
                await bob_one.images.generate(model=MODEL, prompt="first", size="4K")
                with pytest.raises(openai.RateLimitError, match="budget"):
                    await bob_two.images.generate(model=MODEL, prompt="second", size="4K")
            async with one.client(KEYS["carol"]) as c_one, two.client(KEYS["carol"]) as c_two:
                await c_one.images.generate(model=MODEL, prompt="a")
                await c_two.images.generate(model=MODEL, prompt="b")
                with pytest.raises(openai.RateLimitError, match="per minute"):
                    await c_one.images.generate(model=MODEL, prompt="c")
    finally:
        await first.aclose()
        await second.aclose()


def test_an_unset_redis_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    """redis_url_env naming an unset variable fails at start with its name."""
    monkeypatch.delenv("NO_SUCH_REDIS_URL", raising=False)
    settings = GatewaySettings.model_validate(
        {"models": {"m": ["a/b"]}, "redis_url_env": "NO_SUCH_REDIS_URL"}
    )
    with pytest.raises(ConfigurationError, match="NO_SUCH_REDIS_URL"):
        shared_state(settings)

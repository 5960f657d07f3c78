"""Gateway replicas on one Redis share each client's budget and rpm."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import openai
import pytest

from gateway.conftest import KEYS, MODEL, gateway_config, running
from imagegate.errors import ConfigurationError
from imagegate.gateway import GatewaySettings, hash_key, shared_state
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


DAVE, ERIN = "igw-dave-test-key", "igw-erin-test-key"


async def test_three_replicas_behind_a_round_robin_hold_one_rpm_and_one_budget(
    sim: Simulator, redis_server: RedisServer, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three replicas on one Redis, requests dealt round-robin and sent all at once: Dave's
    rpm of 6 admits at most 6 in the minute across the three; Erin's $1.00 budget is
    never passed by more than one attempt's worth, whichever replica took each request."""
    monkeypatch.setenv("TEST_REDIS_URL", redis_server.url)
    table = {"redis_url_env": "TEST_REDIS_URL", "redis_prefix": prefix}
    clients = {
        "dave": {"key_sha256": hash_key(DAVE), "rpm": 6},
        "erin": {"key_sha256": hash_key(ERIN), "budget_usd": 1.0},
    }
    settings = GatewaySettings.model_validate({"models": {"m": []}, **table})
    states = [shared_state(settings) for _ in range(3)]
    async with AsyncExitStack() as stack:
        for state in states:
            assert state is not None
            stack.push_async_callback(state.aclose)
        replicas = [
            await stack.enter_async_context(
                running(gateway_config(sim, clients=clients), clock=sim.clock, state=state)
            )
            for state in states
        ]
        dave = [r.client(DAVE) for r in replicas]
        erin = [r.client(ERIN) for r in replicas]
        for client in (*dave, *erin):
            stack.push_async_callback(client.close)

        answers = await asyncio.gather(
            *(dave[i % 3].images.generate(model=MODEL, prompt=f"d{i}") for i in range(18)),
            return_exceptions=True,
        )
        admitted = [a for a in answers if not isinstance(a, BaseException)]
        refused = [a for a in answers if isinstance(a, openai.RateLimitError)]
        assert 1 <= len(admitted) <= 6
        assert len(admitted) + len(refused) == 18

        raw = await asyncio.gather(
            *(
                erin[i % 3].images.with_raw_response.generate(
                    model=MODEL, prompt=f"e{i}", size="4K"
                )
                for i in range(12)
            ),
            return_exceptions=True,
        )
        delivered = [r for r in raw if not isinstance(r, BaseException)]
        over_budget = [r for r in raw if isinstance(r, openai.RateLimitError)]
        assert delivered
        assert len(delivered) + len(over_budget) == 12
        spent = sum(float(r.headers["x-imagegate-cost-usd"]) for r in delivered)
        one_attempt = 0.3  # the dearest 4K list price in the group, with room to spare
        assert spent <= 1.0 + one_attempt
        assert {r.headers["x-imagegate-route"] for r in delivered}

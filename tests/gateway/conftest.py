"""A gateway on loopback in front of the embedded simulator, and the openai SDK clients
that talk to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import openai
import pytest
from aiohttp import web

from imagegate import Route
from imagegate.gateway import Gateway, create_app, hash_key, load_config
from imagegate.testing.simulator import Simulator

KEYS = {"alice": "igw-alice-test-key", "bob": "igw-bob-test-key", "carol": "igw-carol-test-key"}
MODEL = "nano-banana-pro"


def sim_routes(sim: Simulator) -> list[Route]:
    """Gemini on AI Studio and the aggregator (primaries), OpenAI Images and Flux (backups)."""

    def route(provider: str, model: str, **kwargs: Any) -> Route:
        return Route(
            provider,
            model=model,
            base_url=sim.base_url(provider),
            api_key=sim.api_key(provider),
            **kwargs,
        )

    return [
        route("gemini", "gemini-3-pro-image"),
        route("vertex", "gemini-3-pro-image"),
        route("openai_compatible", "gemini-3-pro-image"),
        route("openai", "gpt-image-1.5", backup=True),
        route("flux", "flux-pro-1.1-ultra", backup=True),
    ]


def gateway_config(
    sim: Simulator, *, clients: Mapping[str, Any] | None = None, **table: Any
) -> dict[str, Any]:
    """A router on the simulator and a ``[gateway]`` table with two model groups."""
    default_clients = {
        "alice": {"key_sha256": hash_key(KEYS["alice"])},
        "bob": {"key_sha256": hash_key(KEYS["bob"]), "budget_usd": 0.3},
        "carol": {"key_sha256": hash_key(KEYS["carol"]), "rpm": 2},
    }
    return {
        "routes": sim_routes(sim),
        "gateway": {
            "models": {
                MODEL: [
                    "gemini/gemini-3-pro-image",
                    "vertex/gemini-3-pro-image",
                    "openai_compatible/gemini-3-pro-image",
                    "openai/gpt-image-1.5",
                    "flux/flux-pro-1.1-ultra",
                ],
                "gpt-image": ["openai/gpt-image-1.5"],
            },
            "clients": dict(clients or default_clients),
            **table,
        },
    }


@dataclass
class Running:
    """A gateway listening on loopback."""

    gateway: Gateway
    base_url: str  # ends in /v1, as the openai SDKs want it
    root: str

    def client(self, key: str = KEYS["alice"]) -> openai.AsyncOpenAI:
        """The async SDK on the gateway, without retries."""
        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key, max_retries=0)

    def sync_client(self, key: str = KEYS["alice"]) -> openai.OpenAI:
        """The sync SDK on the gateway, without retries."""
        return openai.OpenAI(base_url=self.base_url, api_key=key, max_retries=0)


@asynccontextmanager
async def running(config: Mapping[str, Any], **overrides: Any) -> AsyncIterator[Running]:
    """The gateway of ``config`` on a free loopback port."""
    async with Gateway(load_config(config, **overrides)) as gateway:
        runner = web.AppRunner(create_app(gateway), access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            root = f"http://127.0.0.1:{port}"
            yield Running(gateway, f"{root}/v1", root)
        finally:
            await runner.cleanup()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy simulator, fast (one simulated second is 2 real ms: a CPU stall of
    100 ms on a loaded machine is 50 simulated seconds, well inside any deadline)."""
    async with Simulator("healthy", time_scale=0.002) as simulator:
        yield simulator


@pytest.fixture
async def gw(sim: Simulator) -> AsyncIterator[Running]:
    """The gateway on the healthy simulator."""
    async with running(gateway_config(sim), clock=sim.clock, seed=0) as gateway:
        yield gateway


GatewayFactory = Callable[..., Any]

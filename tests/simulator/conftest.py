"""Fixtures for the simulator tests: a running simulator and official clients pointed at it.

Every client is closed at teardown (pytest turns ResourceWarning into an error); the
environment the SDKs read is cleared for every test by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openai
import pytest
from google import genai
from google.genai import types

from imagegate.testing.simulator import Simulator

FAST = 0.0001  # real seconds per simulated second: a 600 s deadline lasts 60 ms


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario, fast time: 1 ms of real time per simulated second, so that a
    Flux sample URL's ten minutes (600 ms real) outlast a CPU stall on a loaded machine."""
    async with Simulator("healthy", seed=0, time_scale=FAST * 10) as running:
        yield running


GeminiFactory = Callable[..., genai.Client]
OpenAIFactory = Callable[..., openai.AsyncOpenAI]


@pytest.fixture
async def make_gemini() -> AsyncIterator[GeminiFactory]:
    """Build google-genai clients (closed at teardown); SDK retries are off.

    ``make_gemini(sim, api_key=None, vertex=False, **HttpOptions fields, **client kwargs)``
    """
    clients: list[genai.Client] = []

    def make(
        sim: Simulator,
        *,
        api_key: str | None = None,
        provider: str = "gemini",
        client_options: dict[str, Any] | None = None,
        **http_options: Any,
    ) -> genai.Client:
        options = dict(client_options or {})
        if "credentials" not in options:
            options["api_key"] = api_key if api_key is not None else sim.api_key(provider)
        client = genai.Client(
            vertexai=provider == "vertex",
            http_options=types.HttpOptions(
                base_url=sim.base_url(provider),
                retry_options=types.HttpRetryOptions(attempts=1),
                **http_options,
            ),
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aio.aclose()


@pytest.fixture
async def gemini(sim: Simulator, make_gemini: GeminiFactory) -> genai.Client:
    """google-genai on the Gemini API route."""
    return make_gemini(sim)


@pytest.fixture
async def make_openai() -> AsyncIterator[OpenAIFactory]:
    """Build AsyncOpenAI clients on the aiohttp transport (closed at teardown), no retries.

    ``make_openai(sim, provider="openai", **AsyncOpenAI kwargs)``
    """
    clients: list[openai.AsyncOpenAI] = []

    def make(sim: Simulator, provider: str = "openai", **options: Any) -> openai.AsyncOpenAI:
        options.setdefault("api_key", sim.api_key(provider))
        client = openai.AsyncOpenAI(
            base_url=sim.base_url(provider),
            max_retries=0,
            http_client=openai.DefaultAioHttpClient(),
            **options,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def oai(sim: Simulator, make_openai: OpenAIFactory) -> openai.AsyncOpenAI:
    """AsyncOpenAI on the OpenAI Images route."""
    return make_openai(sim)


@pytest.fixture
async def aggregator(sim: Simulator, make_openai: OpenAIFactory) -> openai.AsyncOpenAI:
    """AsyncOpenAI on the aggregator route."""
    return make_openai(sim, "openai_compatible")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A bare aiohttp session (Flux, downloads, raw REST)."""
    async with aiohttp.ClientSession() as session:
        yield session

"""Fixtures for the adapter tests: a running simulator and adapters pointed at it.

Adapters are built through the registry (the same factories routes use) and closed at
teardown, since pytest turns ResourceWarning into an error. Environment variables the
SDKs or the adapters read are cleared so nothing leaks in from the machine.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from imagegate._provider import Provider
from imagegate.providers import registry
from imagegate.testing.simulator import Simulator

from ._support import FAST, sim_config

_ENV = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_COMPATIBLE_API_KEY",
    "OPENAI_COMPATIBLE_BASE_URL",
    "BFL_API_KEY",
    "IMAGEGATE_LOG_LEVEL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider configuration from the machine reaches the SDKs."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario in fast time."""
    async with Simulator("healthy", seed=0, time_scale=FAST) as running:
        yield running


Make = Callable[..., Any]


@pytest.fixture
async def make(sim: Simulator) -> AsyncIterator[Make]:
    """Build adapters on the simulator through the registry: ``make("gemini", **options)``."""
    built: list[Provider] = []

    def build(provider: str, **options: Any) -> Any:
        adapter = registry.create(provider, sim_config(sim, provider, **options))
        built.append(adapter)
        return adapter

    yield build
    for adapter in built:
        await adapter.aclose()

"""Fixtures for the adapter tests: a running simulator and adapters pointed at it.

Adapters are built through the registry (the same factories routes use) and closed at
teardown, since pytest turns ResourceWarning into an error. The environment the SDKs and
adapters read is cleared for every test by tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from imagegate._provider import Provider
from imagegate.providers import registry
from imagegate.testing.simulator import Simulator

from ._support import FAST, sim_config


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    """The healthy scenario at 1 ms per simulated second. Faster, a loaded machine's stall
    between a Flux result and its download outlives the signed sample URL (600 simulated
    seconds, BFL's ten minutes: 60 ms of real time at `FAST`)."""
    async with Simulator("healthy", seed=0, time_scale=FAST * 10) as running:
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

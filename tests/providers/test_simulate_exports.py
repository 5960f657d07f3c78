"""What ``imagegate simulate`` prints to export is enough: applied to an environment with
no provider variable, it sends every provider's traffic to the simulator on loopback."""

from __future__ import annotations

import shlex
from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from imagegate.cli import _simulator_banner
from imagegate.providers import ProviderConfig, registry
from imagegate.testing.simulator import Simulator

from ._support import DEFAULT_MODEL, FAST, PROVIDERS, ask


def _exports(text: str) -> dict[str, str]:
    """``NAME=value`` pairs of every ``export`` line of ``text``."""
    pairs: dict[str, str] = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if words[:1] == ["export"]:
            for word in words[1:]:
                name, _, value = word.partition("=")
                pairs[name] = value
    return pairs


async def test_printed_exports_send_every_provider_to_the_simulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each adapter built with no key and no base_url, in the exported environment,
    reaches the simulator (Flux included: BFL_BASE_URL), never a real host."""
    async with Simulator("healthy", seed=0, time_scale=FAST) as sim:
        banner = _simulator_banner(sim)
        exports = _exports(banner)
        assert exports["BFL_BASE_URL"] == sim.base_url("flux")
        assert all(banner.count(f" {name}=") == 1 for name in exports)  # none twice
        for name, value in exports.items():
            monkeypatch.setenv(name, value)
        for provider in PROVIDERS:
            options: dict[str, Any] = {}
            timeout_s = 30.0
            if provider == "vertex":  # project mode: the printed note's OAuth token
                options["credentials"] = Credentials(token=sim.api_key("vertex"))
            if provider == "flux":  # polls on simulated time; a timeout would be too
                options["clock"] = sim.clock
                timeout_s = None
            adapter = registry.create(provider, ProviderConfig(options=options))
            try:
                prompt = f"a lighthouse ({provider}) [sim:success]"
                response = await adapter.generate(
                    ask(prompt, DEFAULT_MODEL[provider], timeout_s=timeout_s)
                )
            finally:
                await adapter.aclose()
            assert response.images
        reached = {event.provider for event in sim.events}
    assert reached == set(PROVIDERS)

"""The adapters as a user meets them: routes built by name, driven by the Router."""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from imagegate import Route, Router
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing.simulator import Simulator

from ._support import DEFAULT_MODEL, PROVIDERS


def _route(sim: Simulator, provider: str) -> Route:
    options: dict[str, Any] = {}
    key: str | None = sim.api_key(provider)
    if provider == "vertex":
        options = {"project": "sim-project", "credentials": Credentials(token=key)}
        key = None
    if provider == "flux":
        options = {"poll_initial_s": 0.001, "poll_max_s": 0.005}
    return Route(
        provider,
        model=DEFAULT_MODEL[provider],
        base_url=sim.base_url(provider),
        api_key=key,
        **options,
    )


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_router_over_each_adapter(sim: Simulator, provider: str) -> None:
    """A 16:9 request through a named route: image, delivered tier, cost, one attempt."""
    size = "1K" if provider == "openai" else "2K"
    async with Router([_route(sim, provider)], retry=RetryPolicy(attempts=1)) as router:
        result = await router.generate(
            f"a lighthouse ({provider}) [sim:success]",
            size=size,  # type: ignore[arg-type]
            aspect_ratio="16:9",
            deadline=60,
        )
    assert result.route == f"{provider}/{DEFAULT_MODEL[provider]}"
    assert result.size == size
    assert result.image.width > result.image.height
    assert result.downgraded is False
    assert result.cost_usd > 0
    assert len(result.attempts) == 1
    assert result.attempts[0].billing == "billed"
    assert (await sim.wait_idle()).open_connections == 0

"""Helpers shared by the adapter tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from google.oauth2.credentials import Credentials
from pydantic import SecretStr

from imagegate._provider import ProviderRequest
from imagegate._request import Size
from imagegate.providers import ProviderConfig
from imagegate.testing.simulator import Simulator

FAST = 0.0001
"""Real seconds per simulated second: a 600 s server deadline lasts 60 ms."""

PROVIDERS = ("gemini", "vertex", "openai", "openai_compatible", "flux")
"""Every adapter this package ships, by registry name."""

DEFAULT_MODEL = {
    "gemini": "gemini-3-pro-image",
    "vertex": "gemini-3-pro-image",
    "openai": "gpt-image-1.5",
    "openai_compatible": "google/gemini-3-pro-image",
    "flux": "flux-pro-1.1-ultra",
}


def sim_config(sim: Simulator, provider: str, **options: Any) -> ProviderConfig:
    """A route config pointing ``provider`` at the simulator with the key it accepts.

    Vertex gets project mode with an OAuth token (the simulator accepts its key as the
    token); Flux polls on the simulator's clock, so attempt times are simulated seconds.
    """
    key: str | None = options.pop("api_key", sim.api_key(provider))
    if provider == "vertex" and "api_key_env" not in options and not options.pop("express", False):
        options.setdefault("project", "sim-project")
        options.setdefault("credentials", Credentials(token=key))
        key = None
    if provider == "flux":
        options.setdefault("clock", sim.clock)
    api_key_env = options.pop("api_key_env", None)
    return ProviderConfig(
        api_key=SecretStr(key) if key is not None else None,
        api_key_env=api_key_env,
        base_url=options.pop("base_url", sim.base_url(provider)),
        options=options,
    )


def ask(
    prompt: str,
    model: str,
    size: Size = "1K",
    aspect_ratio: str = "1:1",
    *,
    timeout_s: float | None = 30.0,
    **kwargs: Any,
) -> ProviderRequest:
    """A `ProviderRequest` with test defaults (a generous attempt timeout)."""
    return ProviderRequest(
        prompt=prompt,
        model=model,
        size=size,
        aspect_ratio=aspect_ratio,
        timeout_s=timeout_s,
        **kwargs,
    )

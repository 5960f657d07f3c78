"""The built-in providers, registered through the same entry-point path as plugins.

Factories import their adapter module only when a route needs it, so loading the
registry stays cheap and an adapter's SDK is imported only if used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagegate._provider import Provider
    from imagegate.providers._registry import ProviderConfig, RegisterFunc


def _fake(config: ProviderConfig) -> Provider:
    from imagegate.testing import FakeProvider, succeed

    latency_s = float(config.options.get("latency_s", 0.0))
    return FakeProvider("fake", default=succeed(latency_s=latency_s), clock=config.clock)


def _gemini(config: ProviderConfig) -> Provider:
    from imagegate.providers.gemini import GeminiProvider

    return GeminiProvider.from_config(config)


def _vertex(config: ProviderConfig) -> Provider:
    from imagegate.providers.vertex import VertexProvider

    return VertexProvider.from_config(config)


def _openai(config: ProviderConfig) -> Provider:
    from imagegate.providers.openai import OpenAIProvider

    return OpenAIProvider.from_config(config)


def _openai_compatible(config: ProviderConfig) -> Provider:
    from imagegate.providers.openai_compatible import OpenAICompatibleProvider

    return OpenAICompatibleProvider.from_config(config)


def _flux(config: ProviderConfig) -> Provider:
    from imagegate.providers.flux import FluxProvider

    return FluxProvider.from_config(config)


def register_providers(register: RegisterFunc) -> None:
    """Register every built-in provider."""
    register(
        "fake",
        _fake,
        description="Scripted in-process provider for tests and dry runs (no network, no key)",
    )
    register(
        "gemini",
        _gemini,
        description="Gemini image models on Google AI Studio (GEMINI_API_KEY / GOOGLE_API_KEY)",
    )
    register(
        "vertex",
        _vertex,
        description="Gemini image models on Vertex AI (GOOGLE_CLOUD_PROJECT + ADC, or express key)",
    )
    register("openai", _openai, description="OpenAI Images: gpt-image, dall-e (OPENAI_API_KEY)")
    register(
        "openai_compatible",
        _openai_compatible,
        description="Any OpenAI-compatible aggregator, chat or images mode (base_url + key)",
    )
    register("flux", _flux, description="Black Forest Labs FLUX, submit and poll (BFL_API_KEY)")

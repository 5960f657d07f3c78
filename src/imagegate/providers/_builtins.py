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
    return FakeProvider("fake", default=succeed(latency_s=latency_s))


def register_providers(register: RegisterFunc) -> None:
    """Register every built-in provider."""
    register(
        "fake",
        _fake,
        description="Scripted in-process provider for tests and dry runs (no network, no key)",
    )

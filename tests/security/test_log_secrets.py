"""No log line carries a key, whatever renderer the application configured, when an
adapter (built in or plugged in) fails in a way nobody mapped."""

from __future__ import annotations

import io

import pytest

from imagegate import Capabilities, ProviderRequest, ProviderResponse, Route, Router
from imagegate.errors import ImageGateError

from ._leaky import KEYS, duplicate_content_length, hostile_server, route_to
from ._logs import EXPLAINED, RENDERERS, Configure, set_level

PLUGIN_KEY = "sk-proj-PluginTest0123456789abcdefghijklmnopq"


class LeakyPlugin:
    """A third-party provider that holds its key in locals and puts it in its errors."""

    name = "leaky"

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def capabilities(self, model: str) -> Capabilities:
        """Every tier, one image."""
        return Capabilities()

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Fail with the request headers, key included, in the message and in locals."""
        headers = {"authorization": f"Bearer {self._api_key}", "accept": "application/json"}
        raise RuntimeError(f"upstream refused the call made with {headers}")

    async def aclose(self) -> None:
        """Nothing to close."""


async def _fail_and_capture(configure: Configure, routes: list[Route]) -> str:
    out = io.StringIO()
    configure(out)
    async with Router(routes, attempt_timeout_s=5.0, retry=None, hedge=None) as router:
        with pytest.raises(ImageGateError):
            await router.generate("a lighthouse")
    return out.getvalue()


@pytest.mark.parametrize("level", ["warning", "debug"])
@pytest.mark.parametrize("renderer", RENDERERS)
async def test_malformed_transport_failure_logs_no_key(renderer: str, level: str) -> None:
    """A duplicate Content-Length (aiohttp refuses the answer; the openai adapter maps it to
    a TransportError) logs no key, whatever the renderer and the level."""
    set_level(level)
    async with hostile_server(duplicate_content_length) as base_url:
        text = await _fail_and_capture(RENDERERS[renderer], [route_to("openai", base_url)])
    if level == "debug":
        assert "attempt.end" in text  # the failure is logged
    assert KEYS["openai"] not in text


@pytest.mark.parametrize("renderer", RENDERERS)
async def test_plugin_failure_logs_no_key(renderer: str) -> None:
    """A plugin raising with its key in the message and in locals logs no key."""
    text = await _fail_and_capture(RENDERERS[renderer], [Route(LeakyPlugin(PLUGIN_KEY), model="m")])
    assert "attempt.adapter_bug" in text
    if renderer in EXPLAINED:
        assert "RuntimeError" in text
    assert PLUGIN_KEY not in text
    assert PLUGIN_KEY[:12] not in text  # not even the start of it

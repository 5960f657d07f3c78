"""No configured key ever shows up in logs (structlog and the SDKs' own), ``repr``s or
error text, whatever happens to the call."""

from __future__ import annotations

import logging
import traceback
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from _logcapture import captured_events
from imagegate.errors import AuthenticationError, ImageGateError
from imagegate.testing.simulator import Simulator

from ._support import DEFAULT_MODEL, PROVIDERS, ask

KINDS = ("success", "rate_limited", "html_502", "reset", "prompt_blocked", "internal")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_keys_never_leak(
    sim: Simulator,
    make: Any,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Debug logs, reprs, errors and tracebacks carry neither accepted nor rejected keys."""
    caplog.set_level(logging.DEBUG)
    good = sim.api_key(provider)
    bad = f"rejected-{provider}-key-5f3a9c"
    timeout = None if provider == "flux" else 30.0  # Flux: simulated seconds, no limit
    texts: list[str] = []
    with captured_events() as events:
        adapters = [make(provider), make(provider, api_key=bad)]
        texts += [repr(a) for a in adapters] + [str(a) for a in adapters]
        for kind in KINDS:
            for adapter in adapters:
                request = ask(f"secret test {kind} [sim:{kind}]", DEFAULT_MODEL[provider])
                try:
                    response = await adapter.generate(
                        ask(request.prompt, request.model, timeout_s=timeout)
                    )
                    texts.append(repr(response))
                except ImageGateError as exc:
                    texts += [str(exc), repr(exc), *traceback.format_exception(exc)]
    texts += [repr(event) for event in events]
    texts.append(caplog.text)
    assert any(e["event"] == "provider.request" for e in events)  # debug logs were on
    assert len(texts) > 2 * len(KINDS)
    for text in texts:
        assert good not in text
        assert bad not in text


@pytest.fixture
async def echo_server() -> AsyncIterator[str]:
    """A careless upstream that rejects every call and echoes the credential it got."""

    async def reject(request: web.Request) -> web.Response:
        sent = (
            request.headers.get("x-goog-api-key")
            or request.headers.get("x-key")
            or request.headers.get("Authorization", "").removeprefix("Bearer ")
        )
        message = f"API key not valid: {sent!r} was rejected"
        body = {
            "error": {"code": 401, "message": message, "status": "UNAUTHENTICATED"},
            "detail": message,
        }
        return web.json_response(body, status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", reject)
    async with TestServer(app) as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_echoed_keys_are_masked(
    echo_server: str,
    make: Any,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key an upstream echoes back is masked in our error, its traceback and the logs."""
    caplog.set_level(logging.DEBUG)
    key = f"echoed-{provider}-key-7d41e0"
    with captured_events() as events:
        adapter = make(provider, api_key=key, base_url=echo_server)
        with pytest.raises(AuthenticationError) as info:
            await adapter.generate(ask("echo", DEFAULT_MODEL[provider], timeout_s=None))
    error = info.value
    texts = [str(error), repr(error), *traceback.format_exception(error), caplog.text]
    texts += [repr(event) for event in events]
    assert "[REDACTED]" in str(error)  # the echo reached us, masked
    for text in texts:
        assert key not in text

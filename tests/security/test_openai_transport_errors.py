"""A broken connection or a malformed HTTP answer under the openai SDK's aiohttp transport
maps to a retryable `TransportError` that may have been billed, like the other adapters."""

from __future__ import annotations

import asyncio
import base64
import socket
import struct
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web

from imagegate import RetryPolicy, Route, Router
from imagegate._provider import ProviderRequest
from imagegate._sanitize import UpstreamCause
from imagegate.errors import AllRoutesFailed, TransportError
from imagegate.providers.openai import OpenAIProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.testing._images import make_png

from ._chosen import Hostile, Serve, start_hostile


@pytest.fixture
async def hostile(serve: Serve) -> Hostile:
    """A hostile upstream on 127.0.0.1 answering with the handler the test sets."""
    return await start_hostile(serve)


KEY = "sk-hostile-transport-12345"
Behaviour = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def _hang_up(request: web.Request, raw: bytes = b"", *, reset: bool = False) -> web.Response:
    """Write ``raw`` straight to the socket, then close it (with an RST if ``reset``)."""
    await request.read()
    transport = request.transport
    assert transport is not None
    if raw:
        transport.write(raw)
    if reset:
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:
        transport.close()
    await asyncio.sleep(0.01)  # the connection is gone; this answer is never sent
    return web.Response()


async def _reset(request: web.Request) -> web.Response:
    return await _hang_up(request, reset=True)


async def _close_mid_headers(request: web.Request) -> web.Response:
    return await _hang_up(request, b"HTTP/1.1 200 OK\r\nContent-Type: appl")


async def _truncate_body(request: web.Request) -> web.Response:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
    return await _hang_up(request, head + b'{"data": [{"b64_json": "iVBORw0KGgo')


async def _bad_status_line(request: web.Request) -> web.Response:
    return await _hang_up(request, b"SMTP ready\r\n\r\n")


async def _bad_chunk(request: web.Request) -> web.Response:
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    return await _hang_up(request, head + b"\r\nZZ\r\n{}\r\n")


async def _bad_header(request: web.Request) -> web.Response:
    return await _hang_up(request, b"HTTP/1.1 200 OK\r\nContent Length: x\r\n\r\n{}")


BEHAVIOURS: dict[str, Behaviour] = {
    "reset": _reset,
    "close_mid_headers": _close_mid_headers,
    "truncated_body": _truncate_body,
    "bad_status_line": _bad_status_line,
    "bad_chunk_size": _bad_chunk,
    "bad_header_line": _bad_header,
}


def _adapter(provider: str, url: str) -> OpenAIProvider | OpenAICompatibleProvider:
    if provider == "openai":
        return OpenAIProvider(api_key=KEY, base_url=f"{url}/v1")
    return OpenAICompatibleProvider(api_key=KEY, base_url=f"{url}/v1")


MODELS = {"openai": "gpt-image-1.5", "openai_compatible": "google/gemini-3-pro-image"}


@pytest.mark.parametrize("provider", list(MODELS))
@pytest.mark.parametrize("behaviour", list(BEHAVIOURS))
async def test_broken_answer_is_a_possibly_billed_transport_error(
    hostile: Hostile, provider: str, behaviour: str
) -> None:
    """Reset, hang-up mid-headers or mid-body, and malformed HTTP all map to TransportError."""
    hostile.handler = BEHAVIOURS[behaviour]
    adapter = _adapter(provider, hostile.url)
    request = ProviderRequest(prompt="x", model=MODELS[provider], size="1K", timeout_s=5.0)
    try:
        with pytest.raises(TransportError) as info:
            await adapter.generate(request)
    finally:
        await adapter.aclose()
    error = info.value
    assert (error.retryable, error.billing) == (True, "possibly_billed")
    assert KEY not in str(error)
    assert hostile.requests, "the request reached the server"


@pytest.mark.parametrize("behaviour", ["bad_status_line", "bad_chunk_size", "bad_header_line"])
async def test_chained_aiohttp_error_does_not_carry_the_key(
    hostile: Hostile, behaviour: str
) -> None:
    """The aiohttp error under the TransportError is chained as a stand-in: no link of the
    chain, nor any request_info, shows the key."""
    hostile.handler = BEHAVIOURS[behaviour]
    adapter = _adapter("openai", hostile.url)
    request = ProviderRequest(prompt="x", model=MODELS["openai"], size="1K", timeout_s=5.0)
    try:
        with pytest.raises(TransportError) as info:
            await adapter.generate(request)
    finally:
        await adapter.aclose()
    chain: list[BaseException] = []
    cause: BaseException | None = info.value
    while cause is not None:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    # Chained as a stand-in that names the vendor error: never the live aiohttp object.
    assert any(
        isinstance(c, UpstreamCause) and c.type_name.endswith("ClientResponseError") for c in chain
    )
    assert not any(isinstance(c, aiohttp.ClientResponseError) for c in chain)
    for link in chain:
        assert KEY not in repr(link), type(link).__name__
        assert KEY not in repr(getattr(link, "request_info", None))


async def test_router_fails_over_from_a_malformed_answer(hostile: Hostile) -> None:
    """A malformed HTTP answer is an ordinary failure: the router moves to the next route."""
    png = make_png(1024, 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path.startswith("/bad/"):
            return await _bad_status_line(request)
        b64 = base64.b64encode(png).decode()
        return web.json_response({"created": 1, "data": [{"b64_json": b64}]})

    hostile.handler = handler
    routes = [
        Route("openai", model="gpt-image-1.5", base_url=f"{hostile.url}/bad/v1", api_key=KEY),
        Route("openai", model="gpt-image-1.5", base_url=f"{hostile.url}/good/v1", api_key=KEY,
              name="good", backup=True),
    ]  # fmt: skip
    async with Router(routes, retry=RetryPolicy(attempts=1)) as router:
        try:
            result = await router.generate("a cat")
        except AllRoutesFailed as exc:  # pragma: no cover - shown on failure
            pytest.fail(f"no failover: {exc}")
    first = result.attempts[0]
    assert isinstance(first.error, TransportError)
    assert first.billing == "possibly_billed"
    assert result.image.data == png
    assert [a.route for a in result.attempts] == ["openai/gpt-image-1.5", "good"]

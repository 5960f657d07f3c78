"""Hostile upstreams for the security tests: aiohttp servers on 127.0.0.1 that answer
every call in a broken or unfriendly way, and routes that point each adapter at one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate import Route

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

MODELS = {
    "gemini": "gemini-3-pro-image",
    "openai": "gpt-image-1.5",
    "openai_compatible": "google/gemini-3-pro-image",
    "flux": "flux-pro-1.1-ultra",
}
"""A model of every built-in adapter that takes a plain API key and a base URL."""

KEYS = {
    "gemini": "AIzaSyHostileTest0123456789abcdefghijkl",
    "openai": "sk-proj-HostileTest0123456789abcdefghijklmn",
    "openai_compatible": "sk-or-v1-hostiletest0123456789abcdef0123456789",
    "flux": "6f1d2c3b-hostile-test-4a5b-9c8d-0e1f2a3b4c5d",
}
"""A realistic-looking key per adapter, so a leak is easy to search for."""


async def duplicate_content_length(request: web.Request) -> web.StreamResponse:
    """A 200 whose headers say ``Content-Length`` twice: the client cannot parse it."""
    await request.read()
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    response.headers.add("Content-Length", "2")
    response.headers.add("Content-Length", "3")
    await response.prepare(request)
    await response.write(b"{}")
    await response.write_eof()
    return response


async def server_error(request: web.Request) -> web.StreamResponse:
    """A JSON 500, as any API (or anything pretending to be one) may answer."""
    await request.read()
    body = {"error": {"code": 500, "message": "internal error", "status": "INTERNAL"}}
    return web.json_response(body, status=500)


async def unauthorized(request: web.Request) -> web.StreamResponse:
    """A JSON 401 in OpenAI's words."""
    await request.read()
    message = (
        "Incorrect API key provided: sk-proj-****abcd. You can find your API key at "
        "https://platform.openai.com/account/api-keys."
    )
    body = {
        "error": {"code": "invalid_api_key", "message": message, "type": "invalid_request_error"}
    }
    return web.json_response(body, status=401)


HANDLERS: dict[str, Handler] = {
    "duplicate_content_length": duplicate_content_length,
    "server_error": server_error,
    "unauthorized": unauthorized,
}


@asynccontextmanager
async def hostile_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on every path and method; yields the base URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def route_to(provider: str, base_url: str) -> Route:
    """A route of ``provider`` with its test key, pointed at ``base_url``."""
    return Route(provider, model=MODELS[provider], base_url=base_url, api_key=KEYS[provider])

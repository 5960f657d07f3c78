"""Hostile upstreams for the security tests: small aiohttp servers on 127.0.0.1 whose
handler the test chooses, counting the requests that reach them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Hostile:
    """A running server: ``handler`` answers every path; ``requests`` counts the calls."""

    url: str
    handler: Handler | None = None
    requests: list[str] = field(default_factory=list)


@pytest.fixture
async def hostile() -> AsyncIterator[Hostile]:
    """A server on 127.0.0.1 that answers every request with ``hostile.handler``."""
    state = Hostile(url="")

    async def dispatch(request: web.Request) -> web.StreamResponse:
        state.requests.append(request.path)
        assert state.handler is not None, "the test sets hostile.handler"
        return await state.handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    async with TestServer(app, host="127.0.0.1") as server:
        state.url = str(server.make_url("")).rstrip("/")
        yield state

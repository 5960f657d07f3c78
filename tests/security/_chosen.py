"""A hostile upstream whose answer each test chooses, on the ``serve`` fixture's servers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[[web.Application], Awaitable[str]]


@dataclass
class Hostile:
    """A running server: ``handler`` answers every path; ``requests`` lists the paths hit."""

    url: str = ""
    handler: Handler | None = None
    requests: list[str] = field(default_factory=list)


async def start_hostile(serve: Serve) -> Hostile:
    """Start a server on 127.0.0.1 that answers every request with ``Hostile.handler``."""
    state = Hostile()

    async def dispatch(request: web.Request) -> web.StreamResponse:
        state.requests.append(request.path)
        assert state.handler is not None, "the test sets hostile.handler"
        return await state.handler(request)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", dispatch)
    state.url = await serve(app)
    return state

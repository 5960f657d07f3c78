"""A replay server: real sockets on 127.0.0.1 answering every request with the next
recorded answer of a fixture, and recording how it was called.

Hosts in the recorded answers (BFL's ``polling_url`` on ``api.us1.bfl.ai``, the signed
sample on ``delivery-us1.bfl.ai``, DALL·E's blob URLs) are pointed at the server itself,
or at another replay server standing for a foreign host (``hosts_to``), so a whole
submit → poll → download sequence is replayed with nothing leaving the machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_RECORDED_HOSTS = (
    "https://api.us1.bfl.ai",
    "https://delivery-us1.bfl.ai",
    "https://oaidalleapiprodscus.blob.core.windows.net",
)


@dataclass(frozen=True)
class Call:
    """One request the server received."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    served: int
    """The index of the recorded answer given back."""

    @property
    def carries(self) -> str:
        """Every header value, joined: where to look for a key."""
        return " ".join(self.headers.values())


class Replay:
    """Serves a fixture's answers in order; ``calls`` says how it was asked.

    A fixture with one answer gives it to every request (retries see it again); a
    sequence past its end answers 599, which no adapter mistakes for a real answer.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.hosts_to: str | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    def load(self, answers: list[dict[str, Any]]) -> None:
        """Serve these answers from now on (and forget earlier calls)."""
        self.answers = answers
        self.calls.clear()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        index = 0 if len(self.answers) == 1 else len(self.calls)
        self.calls.append(
            Call(
                request.method, request.path, request.query_string, dict(request.headers),
                body, index,
            )
        )  # fmt: skip
        if index >= len(self.answers):
            return web.json_response({"error": "replay: no more recorded answers"}, status=599)
        return self._respond(self.answers[index])

    def _respond(self, answer: Mapping[str, Any]) -> web.Response:
        headers = dict(answer.get("headers", {}))
        if "image" in answer:
            return web.Response(status=answer["status"], body=answer["image"], headers=headers)
        text = json.dumps(answer["body"])
        for host in _RECORDED_HOSTS:
            text = text.replace(host, self.hosts_to or self.url)
        return web.Response(status=answer["status"], text=text, headers=headers)

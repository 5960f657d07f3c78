"""What every protocol shares: the server state, and how one attempt is played out.

A protocol module parses its request into an `Ask`, then hands it to `run_attempt` with
a renderer that turns the attempt's final outcome into its own wire shape (`Reply`).
`run_attempt` opens the event, asks the world for the plan, applies quotas, sleeps the
simulated latency, and then sends the reply, or plays a transport fault: a reset
connection, a truncated body, an HTML 502 from a proxy, a slowly trickling body.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

from imagegate._request import Size
from imagegate.resilience.clock import ScaledClock
from imagegate.testing._images import Payload
from imagegate.testing.simulator._events import EventLog, EventRecord
from imagegate.testing.simulator._quota import QuotaBook, QuotaVerdict
from imagegate.testing.simulator._scenario import Profile
from imagegate.testing.simulator._world import PlannedOutcome, World

__all__ = [
    "Ask",
    "Call",
    "Reply",
    "SimContext",
    "close_connection",
    "html_502",
    "json_reply",
    "reject",
    "run_attempt",
    "send_trickled",
    "send_truncated",
    "to_response",
]

_HTML_502: Final = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_TRICKLE_CHUNKS: Final = 16


@dataclass(slots=True)
class Reply:
    """A response to send: status, body, content type, extra headers, image delivered."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    width: int | None = None
    height: int | None = None
    outcome: str | None = None  # overrides the planned kind (e.g. a size silently ignored)
    billed: bool | None = None  # overrides the kind's billing (a refusal sent as an error)


def json_reply(
    status: int,
    payload: Any,
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Reply:
    """A `Reply` with a compact JSON body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Reply(status, body, content_type, headers or {}, width, height)


@dataclass(frozen=True, slots=True)
class Ask:
    """What one attempt asks for, in protocol-neutral terms (input images and mask as
    their SHA-256 digests, in the order received)."""

    provider: str
    model: str
    size: Size
    aspect_ratio: str
    n: int
    prompt: str
    images: tuple[str, ...] = ()
    mask: str | None = None


@dataclass(slots=True)
class Call:
    """One attempt being served: the ask, its event record, plan, profile and verdict."""

    ask: Ask
    record: EventRecord
    planned: PlannedOutcome
    profile: Profile
    verdict: QuotaVerdict | None
    now: float = 0.0
    closed_by_server: bool = False
    day_reset_s: float = 0.0

    @property
    def kind(self) -> str:
        """The outcome to play: the quota verdict if any, else the plan."""
        return self.verdict.kind if self.verdict is not None else self.planned.kind

    @property
    def retry_after_s(self) -> float:
        """The retry hint: from the quota verdict, else from the plan (a planned per-day
        quota error waits for the daily reset)."""
        if self.verdict is not None:
            return self.verdict.retry_after_s
        if self.planned.kind == "quota_exhausted":
            return self.day_reset_s
        return self.planned.retry_after_s

    @property
    def token(self) -> str:
        """A deterministic id for this attempt (response ids, request ids)."""
        key = f"{self.ask.provider}|{self.ask.model}|{self.ask.prompt}|{self.record.attempt}"
        return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


Renderer = Callable[[Call], Reply]


class SimContext:
    """The state the handlers share: world, events, quotas, clock, keys, stored files."""

    __slots__ = (
        "base",
        "clock",
        "files",
        "in_flight",
        "keys",
        "log",
        "payload",
        "quotas",
        "requests",
        "world",
    )

    def __init__(
        self, *, world: World, clock: ScaledClock, payload: Payload, keys: Mapping[str, str]
    ) -> None:
        self.world = world
        self.clock = clock
        self.payload: Payload = payload
        self.keys = dict(keys)
        self.log = EventLog()
        self.quotas = QuotaBook(world.scenario)
        self.base = ""
        self.in_flight = 0
        self.requests = 0
        # Downloads served by name (OpenAI `url` images): name -> (bytes, type, expiry).
        self.files: dict[str, tuple[bytes, str, float]] = {}

    async def sleep(self, seconds: float) -> None:
        """Sleep simulated seconds."""
        if seconds > 0:
            await asyncio.sleep(seconds * self.clock.scale)

    def store_file(self, token: str, data: bytes, content_type: str, *, ttl_s: float) -> None:
        """Keep a download for ``ttl_s`` simulated seconds; drop expired ones."""
        now = self.clock.now()
        for stale in [k for k, (_, _, expiry) in self.files.items() if expiry < now]:
            del self.files[stale]
        self.files[token] = (data, content_type, now + ttl_s)


def reject(
    ctx: SimContext, ask: Ask, outcome: str, reply: Reply, *, record: EventRecord | None = None
) -> web.Response:
    """Record an attempt refused before any work (auth, validation, unknown model)."""
    if record is None:
        record = _open(ctx, ask)
    record.planned = outcome
    record.bytes_sent = len(reply.body)
    record.finish(outcome, status=reply.status, now=ctx.clock.now(), billed=False)
    return to_response(reply)


def _open(ctx: SimContext, ask: Ask) -> EventRecord:
    return ctx.log.start(
        provider=ask.provider,
        model=ask.model,
        size=ask.size,
        aspect_ratio=ask.aspect_ratio,
        n=ask.n,
        prompt=ask.prompt,
        now=ctx.clock.now(),
        images=ask.images,
        mask=ask.mask,
    )


def to_response(reply: Reply) -> web.Response:
    """The aiohttp response for a `Reply`."""
    headers = {"Content-Type": reply.content_type, **reply.headers}
    return web.Response(status=reply.status, body=reply.body, headers=headers)


async def run_attempt(
    ctx: SimContext,
    request: web.Request,
    ask: Ask,
    render: Renderer,
    *,
    on_unknown: Callable[[Ask], Reply],
    on_invalid: Callable[[str], Reply],
) -> web.StreamResponse:
    """Play one attempt out and answer it (see the module docstring).

    Args:
        ctx: The shared state.
        request: The aiohttp request (its transport is needed for faults).
        ask: What is asked.
        render: Builds the provider's reply for the attempt's final outcome.
        on_unknown: The reply when no profile serves the model (a 404).
        on_invalid: The reply for a bad ``[sim:...]`` marker (a 400).
    """
    record = _open(ctx, ask)
    profile = ctx.world.profile(ask.provider, ask.model, ask.size)
    if profile is None:
        return reject(ctx, ask, "not_found", on_unknown(ask), record=record)
    try:
        planned = ctx.world.plan(
            prompt=ask.prompt,
            provider=ask.provider,
            model=ask.model,
            size=ask.size,
            attempt=record.attempt,
        )
    except ValueError as exc:
        return reject(ctx, ask, "invalid_request", on_invalid(str(exc)), record=record)
    record.planned = planned.kind
    record.latency_s = planned.latency_s
    now = record.started
    verdict = ctx.quotas.admit(profile, provider=ask.provider, model=ask.model, n=ask.n, now=now)
    call = Call(ask, record, planned, profile, verdict, now)
    try:
        if verdict is None:
            await ctx.sleep(planned.latency_s)
        call.now = ctx.clock.now()
        call.day_reset_s = ctx.quotas.seconds_to_reset(call.now)
        return await _deliver(ctx, request, call, render)
    except asyncio.CancelledError:
        if not call.closed_by_server:
            record.finish(
                "disconnected",
                status=None,
                now=ctx.clock.now(),
                billed=verdict is None and planned.billed,
            )
        raise
    finally:
        if verdict is None:
            ctx.quotas.release(profile, provider=ask.provider, model=ask.model)


async def _deliver(
    ctx: SimContext, request: web.Request, call: Call, render: Renderer
) -> web.StreamResponse:
    kind = call.kind
    billed = call.verdict is None and call.planned.billed
    record = call.record
    if kind == "reset":
        record.finish(kind, status=None, now=call.now, billed=billed)
        call.closed_by_server = True
        return await close_connection(request, reset=True)
    reply = html_502() if kind == "html_502" else render(call)
    if kind == "truncated":
        record.finish(kind, status=reply.status, now=call.now, billed=billed)
        call.closed_by_server = True
        return await send_truncated(request, reply, record)
    record.width, record.height = reply.width, reply.height
    if kind == "slow_body":
        response = await send_trickled(ctx, request, reply, record, call.planned.trickle_s)
        record.finish(kind, status=reply.status, now=ctx.clock.now(), billed=billed)
        return response
    record.bytes_sent = len(reply.body)
    billed = billed if reply.billed is None else reply.billed and call.verdict is None
    record.finish(reply.outcome or kind, status=reply.status, now=call.now, billed=billed)
    return to_response(reply)


def html_502() -> Reply:
    """The page a proxy in front of the provider sends when its upstream failed."""
    return Reply(502, _HTML_502, "text/html")


def _prepared(reply: Reply) -> web.StreamResponse:
    response = web.StreamResponse(status=reply.status, headers=dict(reply.headers))
    response.content_type = reply.content_type.split(";")[0]
    if "charset=" in reply.content_type:
        response.charset = reply.content_type.split("charset=")[1]
    response.content_length = len(reply.body)
    return response


async def send_truncated(
    request: web.Request, reply: Reply, record: EventRecord
) -> web.StreamResponse:
    """Declare the full Content-Length, send half the body, then close the connection."""
    response = _prepared(reply)
    await response.prepare(request)
    half = reply.body[: len(reply.body) // 2]
    await response.write(half)
    record.bytes_sent += len(half)
    return await close_connection(request, reset=False, response=response)


async def send_trickled(
    ctx: SimContext, request: web.Request, reply: Reply, record: EventRecord, trickle_s: float
) -> web.StreamResponse:
    """Send the body in small pieces spread over ``trickle_s`` simulated seconds."""
    response = _prepared(reply)
    await response.prepare(request)
    body = reply.body
    step = -(-len(body) // _TRICKLE_CHUNKS) or 1
    pause = trickle_s / _TRICKLE_CHUNKS
    for offset in range(0, len(body), step):
        await ctx.sleep(pause)
        chunk = body[offset : offset + step]
        await response.write(chunk)
        record.bytes_sent += len(chunk)
    await response.write_eof()
    return response


async def close_connection(
    request: web.Request, *, reset: bool, response: web.StreamResponse | None = None
) -> web.StreamResponse:
    """Drop the connection (with a TCP reset when ``reset``) and wait to be cancelled."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if reset and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if reset:
            transport.abort()
        else:
            transport.close()
    # The server cancels this handler as soon as it sees the connection gone.
    await asyncio.sleep(5)
    return response if response is not None else web.Response(status=500)

"""Black Forest Labs (Flux): submit, poll, download a signed sample.

Served under ``/flux``:

- ``POST /v1/{model}`` with ``x-key``: ``{id, polling_url, cost, input_mp, output_mp}``
  (``cost`` in credits, 1 credit = $0.01), or 429 when the key already has 24 active tasks
  (6 for ``flux-kontext-max``), 402 out of credits, 503, or FastAPI's 422 ``detail`` list.
- ``GET /v1/get_result?id=`` with ``x-key``: ``Pending`` (with ``progress``) until the
  task's simulated latency has passed, then ``Ready`` with a signed ``result.sample`` URL
  valid for 10 simulated minutes from when the result is first read, or ``Request
  Moderated``, ``Content Moderated``, ``Error``; unknown ids, and tasks nobody has read
  for an hour after they finished, give ``Task not found``.
- ``GET /delivery/{id}/sample.jpeg?se=…&sig=…``: the image (JPEG unless ``output_format``
  asked for PNG), or Azure's 403 once expired or tampered with.

Outcomes map onto this flow: 429/402/503/HTML 502/reset happen at submit; prompt_blocked
is ``Request Moderated`` after the fast-failure latency; image_safety is ``Content
Moderated``; internal and text_refusal are ``Error``; deadline stays ``Pending`` until the
deadline, then ``Error``; truncated and slow_body affect the sample download.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import secrets
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from imagegate.testing.simulator._core import (
    Ask,
    Reply,
    SimContext,
    close_connection,
    html_502,
    json_reply,
    reject,
    send_trickled,
    send_truncated,
    to_response,
)
from imagegate.testing.simulator._events import EventRecord
from imagegate.testing.simulator._flux_inputs import credits_for, issue, parse_inputs
from imagegate.testing.simulator._media import (
    ImageFormat,
    encoded,
    ratio_of,
    shrunk,
    size_of_pixels,
)
from imagegate.testing.simulator._world import PlannedOutcome

__all__ = ["FluxState", "add_flux_routes"]

_SUBMIT_S: Final = 0.3
_SAMPLE_TTL_S: Final = 600.0
_TASK_TTL_S: Final = 3600.0
_ACTIVE_LIMIT: Final = 24
_KONTEXT_MAX_LIMIT: Final = 6
_SUBMIT_KINDS: Final = frozenset(
    {"rate_limited", "quota_exhausted", "overloaded", "html_502", "reset"}
)
_TERMINAL: Final = {
    "success": "Ready",
    "size_ignored": "Ready",
    "slow_body": "Ready",
    "truncated": "Ready",
    "reset": "Ready",
    "prompt_blocked": "Request Moderated",
    "image_safety": "Content Moderated",
    "internal": "Error",
    "text_refusal": "Error",
    "deadline": "Error",
}


@dataclass(slots=True)
class _Task:
    id: str
    key: str
    model: str
    prompt: str
    seed: int | None
    record: EventRecord
    planned: PlannedOutcome
    submitted: float
    ends: float
    width: int
    height: int
    fmt: ImageFormat
    observed: float | None = None  # when Ready (or another end) was first read
    last_seen: float = 0.0


class FluxState:
    """The tasks the simulated BFL service knows about."""

    __slots__ = ("_secret", "tasks")

    def __init__(self) -> None:
        self.tasks: dict[str, _Task] = {}
        self._secret = secrets.token_bytes(16)

    def active(self, now: float, *, key: str | None = None, model: str | None = None) -> int:
        """Tasks submitted and not finished at ``now`` (for one key and model if given)."""
        return sum(
            1
            for task in self.tasks.values()
            if task.ends > now
            and (key is None or task.key == key)
            and (model is None or task.model == model)
        )

    def sign(self, task_id: str, expiry: int) -> str:
        """The signature of a sample URL."""
        message = f"{task_id}|{expiry}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def prune(self, now: float) -> None:
        """Forget tasks finished and unread for an hour (they then read ``Task not found``)."""
        stale = [t.id for t in self.tasks.values() if max(t.ends, t.last_seen) + _TASK_TTL_S < now]
        for task_id in stale:
            del self.tasks[task_id]


def add_flux_routes(app: web.Application, ctx: SimContext) -> FluxState:
    """Serve the BFL API under ``/flux`` and return its task table."""
    state = FluxState()

    async def submit(request: web.Request) -> web.StreamResponse:
        return await _submit(ctx, state, request)

    async def get_result(request: web.Request) -> web.StreamResponse:
        return _get_result(ctx, state, request)

    async def download(request: web.Request) -> web.StreamResponse:
        return await _download(ctx, state, request)

    async def credits(request: web.Request) -> web.StreamResponse:
        denied = _auth(ctx, request)
        return to_response(denied) if denied else web.json_response({"credits": 100000.0})

    app.router.add_get("/flux/v1/get_result", get_result)
    app.router.add_get("/flux/v1/credits", credits)
    app.router.add_post("/flux/v1/{model}", submit)
    app.router.add_get("/flux/delivery/{id}/{name}", download)
    return state


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> Reply:
    return json_reply(status, {"detail": detail}, headers=headers)


def _auth(ctx: SimContext, request: web.Request) -> Reply | None:
    key = request.headers.get("x-key")
    if key == ctx.keys["flux"]:
        return None
    return _detail(403, "Not authenticated" if not key else "Invalid API key")


async def _submit(ctx: SimContext, state: FluxState, request: web.Request) -> web.StreamResponse:
    model = request.match_info["model"]
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        body = None
    options, issues = parse_inputs(model, body if isinstance(body, dict) else {})
    if not isinstance(body, dict):
        issues = [
            {
                "type": "json_invalid",
                "loc": ["body", 0],
                "msg": "JSON decode error",
                "input": {},
                "ctx": {"error": "Expecting value"},
            }
        ]
    width, height = options["width"], options["height"]
    ask = Ask(
        "flux", model, size_of_pixels(width, height), ratio_of(width, height), 1, options["prompt"]
    )
    key = request.headers.get("x-key")
    denied = _auth(ctx, request)
    if denied is not None:
        return reject(ctx, ask, "auth_error", denied)
    if issues:
        return reject(ctx, ask, "invalid_request", _detail(422, issues))
    now = ctx.clock.now()
    record = ctx.log.start(
        provider="flux",
        model=model,
        size=ask.size,
        aspect_ratio=ask.aspect_ratio,
        n=1,
        prompt=ask.prompt,
        now=now,
    )
    profile = ctx.world.profile("flux", model, ask.size)
    if profile is None:
        return reject(ctx, ask, "not_found", _detail(404, "Not Found"), record=record)
    try:
        planned = ctx.world.plan(
            prompt=ask.prompt, provider="flux", model=model, size=ask.size, attempt=record.attempt
        )
    except ValueError as exc:
        bad_marker = issue("value_error", "prompt", f"Value error, {exc}", ask.prompt)
        return reject(ctx, ask, "invalid_request", _detail(422, [bad_marker]), record=record)
    record.planned = planned.kind
    record.latency_s = planned.latency_s
    state.prune(now)
    kind = planned.kind
    retry_after = planned.retry_after_s
    limit = profile.concurrent or (
        _KONTEXT_MAX_LIMIT if model.startswith("flux-kontext-max") else _ACTIVE_LIMIT
    )
    scoped = model if model.startswith("flux-kontext-max") else None
    over = state.active(now, key=key, model=scoped) >= limit
    verdict = (
        None
        if over
        else ctx.quotas.admit(
            profile, provider="flux", model=model, n=1, now=now, concurrency=False
        )
    )
    if over:
        kind, retry_after = "rate_limited", 1.0
    elif verdict is not None:
        kind, retry_after = verdict.kind, verdict.retry_after_s
    try:
        if kind in _SUBMIT_KINDS and kind != "reset":
            if verdict is None and not over:
                await ctx.sleep(planned.latency_s)
            reply = _submit_error(kind, limit if over else None, retry_after)
            record.bytes_sent = len(reply.body)
            record.finish(kind, status=reply.status, now=ctx.clock.now(), billed=False)
            return to_response(reply)
        await ctx.sleep(_SUBMIT_S)
    except BaseException:
        if record.outcome == "pending":
            record.finish("disconnected", status=None, now=ctx.clock.now(), billed=False)
        raise
    task_id = (
        f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{record.attempt:04x}-{secrets.token_hex(6)}"
    )
    if kind == "size_ignored":
        width, height = shrunk(width, height, ask.size)
    ends = now + planned.latency_s
    state.tasks[task_id] = _Task(
        task_id,
        key or "",
        model,
        ask.prompt,
        options["seed"],
        record,
        planned,
        now,
        ends,
        width,
        height,
        options["fmt"],
    )
    record.billed = planned.billed
    if kind == "reset":
        record.finish("reset", status=None, now=ctx.clock.now())
        return await close_connection(request, reset=True)
    megapixels = width * height / 1_000_000
    reply = json_reply(
        200,
        {
            "id": task_id,
            "polling_url": f"{ctx.base}/flux/v1/get_result?id={task_id}",
            "cost": credits_for(model, megapixels, profile.price_usd),
            "input_mp": 0.0,
            "output_mp": round(megapixels, 2),
        },
    )
    record.bytes_sent = len(reply.body)
    record.status = 200
    return to_response(reply)


def _submit_error(kind: str, active_limit: int | None, retry_after_s: float) -> Reply:
    retry = {"Retry-After": str(max(1, math.ceil(retry_after_s)))}
    if kind == "rate_limited" and active_limit is not None:
        return _detail(
            429,
            f"You have reached the limit of {active_limit} active tasks. Wait "
            "for a task to finish before submitting a new one.",
            retry,
        )
    if kind == "rate_limited":
        return _detail(429, "Rate limit exceeded. Please slow down.", retry)
    if kind == "quota_exhausted":
        return _detail(402, "Insufficient credits. Add credits at https://dashboard.bfl.ai.")
    if kind == "overloaded":
        return _detail(503, "Service temporarily unavailable. Please try again later.")
    return html_502()


def _get_result(ctx: SimContext, state: FluxState, request: web.Request) -> web.Response:
    denied = _auth(ctx, request)
    if denied is not None:
        return to_response(denied)
    task_id = request.query.get("id")
    if task_id is None:
        issue = {"type": "missing", "loc": ["query", "id"], "msg": "Field required", "input": None}
        return to_response(_detail(422, [issue]))
    now = ctx.clock.now()
    state.prune(now)
    task = state.tasks.get(task_id)
    empty = {"result": None, "progress": None, "details": None, "preview": None}
    if task is None:
        return web.json_response({"id": task_id, "status": "Task not found", **empty})
    task.last_seen = now
    if now < task.ends:
        span = task.ends - task.submitted
        progress = round(min(0.99, (now - task.submitted) / span), 2) if span > 0 else 0.0
        return web.json_response(
            {"id": task_id, **empty, "status": "Pending", "progress": progress}
        )
    kind = task.planned.kind
    status = _TERMINAL.get(kind, "Error")
    if task.observed is None:
        task.observed = now
        task.record.finish(kind, status=200, now=task.ends)
    payload: dict[str, Any] = {"id": task_id, **empty, "status": status}
    if status == "Ready":
        # Signed when first read, so a client that downloads at once always can, at any
        # time scale.
        expiry = math.ceil(task.observed + _SAMPLE_TTL_S)
        sample = (
            f"{ctx.base}/flux/delivery/{task_id}/sample.{task.fmt}"
            f"?se={expiry}&sp=r&sig={state.sign(task_id, expiry)}"
        )
        payload["result"] = {
            "sample": sample,
            "prompt": task.prompt,
            "seed": task.seed if task.seed is not None else task.planned.image_seed,
            "start_time": round(ctx.world.scenario.start.timestamp() + task.submitted, 3),
            "end_time": round(ctx.world.scenario.start.timestamp() + task.ends, 3),
            "duration": round(task.ends - task.submitted, 3),
        }
    elif status in ("Request Moderated", "Content Moderated"):
        payload["details"] = {"Moderation Reasons": ["Derivative Works Filter"]}
    else:
        reason = "Task timed out" if kind == "deadline" else "Internal generation error"
        payload["details"] = {"error": reason}
    return web.json_response(payload)


async def _download(ctx: SimContext, state: FluxState, request: web.Request) -> web.StreamResponse:
    task = state.tasks.get(request.match_info["id"])
    try:
        expiry = int(request.query.get("se", ""))
    except ValueError:
        expiry = -1
    valid = (
        task is not None
        and hmac.compare_digest(request.query.get("sig", ""), state.sign(task.id, expiry))
        and ctx.clock.now() <= expiry
        and _TERMINAL.get(task.planned.kind) == "Ready"
    )
    if not valid or task is None:
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
            "<Message>Server failed to authenticate the request. Make sure the value of "
            "Authorization header is formed correctly including the signature.</Message>"
            "</Error>"
        )
        return web.Response(status=403, text=body, content_type="application/xml")
    data = encoded(task.fmt, task.width, task.height, task.planned.image_seed, ctx.payload)
    reply = Reply(200, data, f"image/{task.fmt}")
    record = task.record
    if task.planned.kind == "truncated":
        return await send_truncated(request, reply, record)
    if task.planned.kind == "slow_body":
        response = await send_trickled(ctx, request, reply, record, task.planned.trickle_s)
    else:
        record.bytes_sent += len(data)
        response = to_response(reply)
    record.width, record.height = task.width, task.height
    return response

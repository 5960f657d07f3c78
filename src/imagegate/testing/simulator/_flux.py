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
- The real service hands out its polling URL on a regional host
  (``https://api.eu1.bfl.ai/v1/get_result?id=…``) and the sample on a delivery host as an
  Azure SAS URL (``https://delivery-eu1.bfl.ai/results/…/sample.jpeg?se=2025-01-09T05%3A04%3A04Z
  &sp=r&sv=2024-11-04&sr=b&rsct=image/jpeg&sig=…``), as recorded in public client code
  (e.g. AIProxySwift's ``BlackForestLabsDirectService.swift``). The simulator maps each of
  those host names to a path on its own origin, ``{base}/hosts/{host}/…``: the polling
  URL is ``{base}/hosts/api.eu1.bfl.ai/v1/get_result?id=…`` and the sample
  ``{base}/hosts/delivery-eu1.bfl.ai/results/{xx}/{id}/sample.jpeg?se=…&sig=…`` (JPEG
  unless ``output_format`` asked for PNG), Azure's 403 once expired or tampered with. A
  client thus follows the service's own URLs without any name resolution, and the flux
  adapter's rule (the key only goes to the base origin or https on bfl.ai) stays as is.

Outcomes map onto this flow: 429/402/503/HTML 502/reset happen at submit; prompt_blocked
is ``Request Moderated`` after the fast-failure latency; image_safety is ``Content
Moderated``; internal and text_refusal are ``Error``; deadline stays ``Pending`` until the
deadline, then ``Error``; truncated and slow_body affect the sample download.

Input images come as base64 ``input_image``, ``input_image_2`` … fields (the OpenAPI
schemas ``FluxKontextProInputs``: 4, ``Flux2Inputs``: 8, ``Flux2KleinInputs``: 4); they are
checked (`imagegate.testing.simulator._edits`) and recorded by digest, in order; too many,
or one that is not an image, is a 422 ``value_error`` on ``input_image``. A moderated input
is ``Request Moderated``, as a moderated prompt.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import math
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlencode

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
from imagegate.testing.simulator._edits import Inputs, check_inputs, decode_base64
from imagegate.testing.simulator._events import EventRecord
from imagegate.testing.simulator._flux_inputs import credits_for, issue, parse_inputs
from imagegate.testing.simulator._media import (
    ImageFormat,
    encoded,
    ratio_of,
    shrunk,
    size_of_pixels,
)
from imagegate.testing.simulator._scenario import Profile
from imagegate.testing.simulator._world import PlannedOutcome

__all__ = ["FluxState", "add_flux_routes"]

_POLL_HOST: Final = "api.eu1.bfl.ai"
_DELIVERY_HOST: Final = "delivery-eu1.bfl.ai"
_SUBMIT_S: Final = 0.3
_SAMPLE_TTL_S: Final = 600.0
_TASK_TTL_S: Final = 3600.0
_MAX_INPUT_FIELDS: Final = 8
"""Most ``input_image`` fields a FLUX schema has (``Flux2Inputs``: to ``input_image_8``)."""
_ACTIVE_LIMIT: Final = 24
_KONTEXT_MAX_LIMIT: Final = 6
_SUBMIT_KINDS: Final = frozenset(
    {"rate_limited", "quota_exhausted", "overloaded", "html_502", "reset"}
)
_EMPTY_RESULT: Final = {"result": None, "progress": None, "details": None, "preview": None}
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
    app.router.add_get(f"/flux/hosts/{_POLL_HOST}/v1/get_result", get_result)
    app.router.add_get("/flux/v1/credits", credits)
    app.router.add_post("/flux/v1/{model}", submit)
    app.router.add_get(f"/flux/hosts/{_DELIVERY_HOST}/results/{{shard}}/{{id}}/{{name}}", download)

    async def unknown(request: web.Request) -> web.StreamResponse:
        return to_response(_detail(404, "Not Found"))  # FastAPI's answer to an unknown path

    app.router.add_route("*", "/flux/{tail:.*}", unknown)
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
    ask, options, issues = await _read_submit(request, model)
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
        images=ask.images,
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
    key = request.headers.get("x-key")
    admission = _admit(ctx, state, profile, planned, key=key, model=model, now=now)
    with _disconnect_recorded(ctx, record):
        if admission.kind in _SUBMIT_KINDS and admission.kind != "reset":
            return await _refuse_submit(ctx, record, planned, admission)
        await ctx.sleep(_SUBMIT_S)
    task = _new_task(ask, options, key or "", record, planned, admission.kind, now)
    state.tasks[task.id] = task
    record.billed = planned.billed
    if admission.kind == "reset":
        record.finish("reset", status=None, now=ctx.clock.now())
        return await close_connection(request, reset=True)
    reply = _accepted(ctx, task, profile.price_usd)
    record.bytes_sent = len(reply.body)
    record.status = 200
    return to_response(reply)


async def _read_submit(
    request: web.Request, model: str
) -> tuple[Ask, dict[str, Any], list[dict[str, Any]]]:
    """The ask, the parsed options and FastAPI's 422 issues (a body that is not JSON is
    one issue)."""
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
    inputs = _inputs(model, body if isinstance(body, dict) else {})
    if inputs.problem is not None:
        issues.append(issue("value_error", "input_image", f"Value error, {inputs.problem}", "…"))
    ask = Ask(
        "flux", model, size_of_pixels(width, height), ratio_of(width, height), 1,
        options["prompt"], inputs.images,
    )  # fmt: skip
    return ask, options, issues


def _inputs(model: str, body: dict[str, Any]) -> Inputs:
    """``input_image``, ``input_image_2`` … (base64; the simulator fetches no URL), checked
    against the model's limits; the numbering stops at the first gap, as fields are read."""
    images: list[bytes] = []
    for number in range(1, _MAX_INPUT_FIELDS + 1):
        value = body.get("input_image" if number == 1 else f"input_image_{number}")
        if value is None:
            break
        images.append(decode_base64(value))
    return check_inputs("flux", model, images)


@dataclass(frozen=True, slots=True)
class _Admission:
    """What the submit meets: the planned kind, a quota verdict, or the active-task limit.

    Attributes:
        kind: The outcome to play.
        retry_after_s: The hint for a refusal.
        active_limit: The active-task limit hit, or None.
        planned: True when neither quotas nor the limit stepped in (a planned failure
            then takes its fail latency).
    """

    kind: str
    retry_after_s: float
    active_limit: int | None = None
    planned: bool = False


def _admit(
    ctx: SimContext,
    state: FluxState,
    profile: Profile,
    planned: PlannedOutcome,
    *,
    key: str | None,
    model: str,
    now: float,
) -> _Admission:
    """The key's active tasks first (24, or 6 for kontext max, per model), then quotas."""
    kontext_max = model.startswith("flux-kontext-max")
    limit = profile.concurrent or (_KONTEXT_MAX_LIMIT if kontext_max else _ACTIVE_LIMIT)
    if state.active(now, key=key, model=model if kontext_max else None) >= limit:
        return _Admission("rate_limited", 1.0, active_limit=limit)
    verdict = ctx.quotas.admit(
        profile, provider="flux", model=model, n=1, now=now, concurrency=False
    )
    if verdict is not None:
        return _Admission(verdict.kind, verdict.retry_after_s)
    return _Admission(planned.kind, planned.retry_after_s, planned=True)


@contextlib.contextmanager
def _disconnect_recorded(ctx: SimContext, record: EventRecord) -> Iterator[None]:
    """Record a client that went away while its submit was pending."""
    try:
        yield
    except BaseException:
        if record.outcome == "pending":
            record.finish("disconnected", status=None, now=ctx.clock.now(), billed=False)
        raise


async def _refuse_submit(
    ctx: SimContext, record: EventRecord, planned: PlannedOutcome, admission: _Admission
) -> web.Response:
    """Answer a submit refused at once (quota, limit) or after the fail latency (plan)."""
    if admission.planned:
        await ctx.sleep(planned.latency_s)
    reply = _submit_error(admission.kind, admission.active_limit, admission.retry_after_s)
    record.bytes_sent = len(reply.body)
    record.finish(admission.kind, status=reply.status, now=ctx.clock.now(), billed=False)
    return to_response(reply)


def _new_task(
    ask: Ask,
    options: dict[str, Any],
    key: str,
    record: EventRecord,
    planned: PlannedOutcome,
    kind: str,
    now: float,
) -> _Task:
    task_id = (
        f"{secrets.token_hex(4)}-{secrets.token_hex(2)}-{record.attempt:04x}-{secrets.token_hex(6)}"
    )
    width, height = options["width"], options["height"]
    if kind == "size_ignored":
        width, height = shrunk(width, height, ask.size)
    return _Task(
        task_id, key, ask.model, ask.prompt, options["seed"], record, planned, now,
        now + planned.latency_s, width, height, options["fmt"],
    )  # fmt: skip


def _accepted(ctx: SimContext, task: _Task, price_usd: float | None) -> Reply:
    """The submit's answer: the task id, its polling URL and its cost in credits."""
    megapixels = task.width * task.height / 1_000_000
    return json_reply(
        200,
        {
            "id": task.id,
            "polling_url": f"{ctx.base}/flux/hosts/{_POLL_HOST}/v1/get_result?id={task.id}",
            "cost": credits_for(task.model, megapixels, price_usd),
            "input_mp": 0.0,
            "output_mp": round(megapixels, 2),
        },
    )


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
    if task is None:
        return web.json_response({"id": task_id, "status": "Task not found", **_EMPTY_RESULT})
    task.last_seen = now
    if now < task.ends:
        span = task.ends - task.submitted
        progress = round(min(0.99, (now - task.submitted) / span), 2) if span > 0 else 0.0
        return web.json_response(
            {"id": task_id, **_EMPTY_RESULT, "status": "Pending", "progress": progress}
        )
    return web.json_response(_ended(ctx, state, task, now))


def _ended(ctx: SimContext, state: FluxState, task: _Task, now: float) -> dict[str, Any]:
    """A finished task's answer: ``Ready`` with a signed sample, moderated, or ``Error``."""
    kind = task.planned.kind
    status = _TERMINAL.get(kind, "Error")
    if task.observed is None:
        task.observed = now
        task.record.finish(kind, status=200, now=task.ends)
    payload: dict[str, Any] = {"id": task.id, **_EMPTY_RESULT, "status": status}
    if status == "Ready":
        payload["result"] = _result(ctx, state, task, task.observed)
    elif status in ("Request Moderated", "Content Moderated"):
        payload["details"] = {"Moderation Reasons": ["Derivative Works Filter"]}
    else:
        reason = "Task timed out" if kind == "deadline" else "Internal generation error"
        payload["details"] = {"error": reason}
    return payload


def _result(ctx: SimContext, state: FluxState, task: _Task, observed: float) -> dict[str, Any]:
    # Signed when first read, so a client that downloads at once always can, at any
    # time scale.
    expiry = math.ceil(observed + _SAMPLE_TTL_S)
    start = ctx.world.scenario.start.timestamp()
    sas = urlencode(
        {
            "se": _iso(start + expiry),
            "sp": "r",
            "sv": "2024-11-04",
            "sr": "b",
            "rsct": f"image/{task.fmt}",
            "sig": state.sign(task.id, expiry),
        },
        safe="/",
    )
    sample = (
        f"{ctx.base}/flux/hosts/{_DELIVERY_HOST}/results/{task.id[:2]}/{task.id}/"
        f"sample.{task.fmt}?{sas}"
    )
    return {
        "sample": sample,
        "prompt": task.prompt,
        "seed": task.seed if task.seed is not None else task.planned.image_seed,
        "start_time": round(start + task.submitted, 3),
        "end_time": round(start + task.ends, 3),
        "duration": round(task.ends - task.submitted, 3),
    }


def _iso(timestamp: float) -> str:
    """An Azure SAS expiry: ``2025-01-09T05:04:04Z``."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expiry(ctx: SimContext, request: web.Request) -> int:
    """The simulated second a sample URL's ``se`` names (-1 when it names none)."""
    try:
        when = datetime.strptime(request.query.get("se", ""), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return -1
    start = ctx.world.scenario.start.timestamp()
    return round(when.replace(tzinfo=UTC).timestamp() - start)


async def _download(ctx: SimContext, state: FluxState, request: web.Request) -> web.StreamResponse:
    task = state.tasks.get(request.match_info["id"])
    expiry = _expiry(ctx, request)
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

"""The HTTP side: OpenAI's Images API routes, operations endpoints and the access log.

    POST /v1/images/generations   JSON body (`GenerationBody`)
    POST /v1/images/edits         multipart: image / image[] files, mask, and the fields
    GET  /v1/models               the model groups, in OpenAI's list shape
    GET  /healthz                 200 while the process lives
    GET  /readyz                  200 when every router is open and the state backend
                                  answers; 503 with the reason otherwise
    GET  /metrics                 Prometheus text (prometheus_client), or 404 with a hint

Every ``/v1`` request needs ``Authorization: Bearer <key>`` of a configured client. The
access log (logger ``imagegate.gateway``, event ``gateway.request``) has the method,
path, status, client, duration, route and size of every request: never a key, and a
prompt only with ``log_prompts = true``.
"""

from __future__ import annotations

import contextlib
import json
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

from aiohttp import web

from imagegate._logging import get_logger
from imagegate._result import ImageResult
from imagegate.errors import AllRoutesFailed, BudgetExceeded, ImageGateError
from imagegate.gateway._errors import error_response, map_error
from imagegate.gateway._gateway import GATEWAY_KEY, Gateway
from imagegate.gateway._ops import healthz, metrics, models, readyz
from imagegate.gateway._wire import (
    BadField,
    EditBody,
    GenerationBody,
    images_response,
    parse,
)

__all__ = ["create_app"]

_OPEN_PATHS: Final = frozenset({"/healthz", "/readyz", "/metrics"})
_CLIENT: Final = web.RequestKey("client", str)
_ROUTE: Final = web.RequestKey("route", str)
_SIZE: Final = web.RequestKey("size", str)
_PROMPT: Final = web.RequestKey("prompt", str)
_log = get_logger("imagegate.gateway")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(gateway: Gateway) -> web.Application:
    """The aiohttp application answering for ``gateway`` (opened and closed by the caller)."""
    limit = gateway.config.gateway.max_body_bytes
    app = web.Application(middlewares=[_access_log, _authenticate], client_max_size=limit)
    app[GATEWAY_KEY] = gateway
    app.router.add_post("/v1/images/generations", _generations)
    app.router.add_post("/v1/images/edits", _edits)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


@web.middleware
async def _access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    limit = request.app[GATEWAY_KEY].config.gateway.max_body_bytes
    try:
        if request.content_length is not None and request.content_length > limit:
            response: web.StreamResponse = _too_large(limit)
        else:
            response = await handler(request)
    except web.HTTPRequestEntityTooLarge:
        response = _too_large(limit)
    except web.HTTPException as exc:
        response = error_response(exc.status, exc.reason)
    except Exception as exc:
        # Logged with the class and where it was raised only: its text may hold the prompt.
        _log.error(
            "gateway.unexpected_error", error=type(exc).__name__, where=_where(exc),
            path=request.path,
        )  # fmt: skip
        response = error_response(
            500, "the gateway failed unexpectedly", type="server_error", code="internal_error"
        )
    _log.info(
        "gateway.request",
        method=request.method,
        path=request.path,
        status=response.status,
        client=request.get(_CLIENT),
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        route=request.get(_ROUTE),
        size=request.get(_SIZE),
        **({"prompt": request[_PROMPT]} if _PROMPT in request else {}),
    )
    return response


def _too_large(limit: int) -> web.Response:
    return error_response(
        413, f"the request body is larger than {limit} bytes", code="request_too_large"
    )


@web.middleware
async def _authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in _OPEN_PATHS:
        return await handler(request)
    gateway = request.app[GATEWAY_KEY]
    client = gateway.keys.client(request.headers.get("Authorization"))
    if client is None:
        return error_response(
            401, "missing or unknown API key (Authorization: Bearer <key>)", code="invalid_api_key"
        )
    request[_CLIENT] = client
    return await handler(request)


async def _generations(request: web.Request) -> web.StreamResponse:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return error_response(400, "the body is not valid JSON")
    return await _answer(request, GenerationBody, data, {})


async def _edits(request: web.Request) -> web.StreamResponse:
    if not request.content_type.startswith("multipart/"):
        return error_response(400, "an edit is a multipart/form-data body", param="image")
    form = await request.post()
    fields: dict[str, Any] = {}
    images: list[bytes] = []
    mask: bytes | None = None
    for name, value in form.items():
        if isinstance(value, web.FileField):
            if name in ("image", "image[]"):
                images.append(value.file.read())
            elif name == "mask":
                mask = value.file.read()
            else:
                return error_response(400, f"unknown file field: '{name}'", param=name)
        else:
            fields[name] = str(value)
    if not images:
        return error_response(400, "an edit needs at least one image", param="image")
    inputs: dict[str, Any] = {"images": images}
    if mask is not None:
        inputs["mask"] = mask
    return await _answer(request, EditBody, _numbers(fields), inputs)


def _numbers(fields: dict[str, Any]) -> dict[str, Any]:
    """Form fields are text: ``n``, ``deadline``, ``seed`` and ``output_compression``
    are numbers (left as text when not, for the check to name them)."""
    for name in ("n", "seed", "output_compression", "deadline"):
        if name in fields:
            with contextlib.suppress(ValueError):
                fields[name] = float(fields[name]) if name == "deadline" else int(fields[name])
    return fields


async def _answer(
    request: web.Request, model: type[GenerationBody], data: Any, inputs: dict[str, Any]
) -> web.StreamResponse:
    gateway = request.app[GATEWAY_KEY]
    try:
        body = parse(model, data)
        arguments = {**body.arguments(), **inputs}
    except BadField as exc:
        return error_response(400, str(exc), param=exc.param)
    if body.model not in gateway.routers:
        return error_response(
            404,
            f"the model '{body.model[:100]}' does not exist",
            param="model",
            code="model_not_found",
        )
    if gateway.config.gateway.log_prompts:
        request[_PROMPT] = body.prompt
    client = request[_CLIENT]
    wait = await gateway.admit(client)
    if wait is not None:
        return error_response(
            429,
            f"client {client!r} is over its requests per minute",
            type="requests",
            code="rate_limit_exceeded",
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    return await _run(request, gateway, client, body, arguments)


async def _run(
    request: web.Request,
    gateway: Gateway,
    client: str,
    body: GenerationBody,
    arguments: dict[str, Any],
) -> web.StreamResponse:
    try:
        reservation = await gateway.reserve(client, body.model, arguments)
    except BudgetExceeded as exc:
        return error_response(
            429,
            gateway.budget_message(client, exc),
            type="insufficient_quota",
            code="insufficient_quota",
        )
    router = gateway.routers[body.model]
    try:
        result = await router.generate(body.prompt, **arguments)
    except ImageGateError as exc:
        attempts = exc.attempts if isinstance(exc, AllRoutesFailed) else ()
        cost = sum(a.cost_usd for a in attempts)
        await gateway.settle(client, reservation, cost, attempted=bool(attempts))
        response = map_error(exc)
        response.headers["x-request-id"] = uuid.uuid4().hex
        response.headers["x-imagegate-attempts"] = str(len(attempts))
        return response
    except BaseException:
        await gateway.settle(client, reservation, 0.0, attempted=False)
        raise
    await gateway.settle(client, reservation, result.cost_usd, attempted=True)
    request[_ROUTE], request[_SIZE] = result.route, str(result.size)
    return web.json_response(images_response(result), headers=_headers(result))


def _headers(result: ImageResult) -> dict[str, str]:
    return {
        "x-imagegate-route": result.route,
        "x-imagegate-size": str(result.size),
        "x-imagegate-downgraded": "true" if result.downgraded else "false",
        "x-imagegate-attempts": str(len(result.attempts)),
        "x-imagegate-cost-usd": f"{result.cost_usd:.6f}",
        "x-request-id": result.request_id or uuid.uuid4().hex,
    }


def _where(exc: BaseException) -> str:
    """File, line and function the exception was raised in (no message, no locals)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "unknown"
    last = frames[-1]
    return f"{Path(last.filename).name}:{last.lineno} in {last.name}"

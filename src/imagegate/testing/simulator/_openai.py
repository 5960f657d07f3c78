"""The OpenAI Images API: ``POST /v1/images/generations`` and ``POST /v1/images/edits``
with per-model rules.

Served under ``/openai/v1``. Model families (by id):

- ``dall-e-2``: sizes 256², 512², 1024²; ``response_format`` url (default) or b64_json.
- ``dall-e-3``: sizes 1024x1024, 1792x1024, 1024x1792; ``n`` = 1; quality standard/hd;
  ``revised_prompt`` in each item.
- ``gpt-image-1``, ``-1-mini``, ``-1.5``, ``chatgpt-image-*``: 1024x1024, 1536x1024,
  1024x1536 or auto; always base64 (``response_format`` is rejected); ``usage`` block.
- anything else (``gpt-image-2`` and later): ``auto`` or any WxH in multiples of 16, at
  most 3840 on a side and 3840×2160 pixels, ratio within 3:1.

Edits are a multipart form (what ``images.edit`` sends): the fields of a generation, one
``image`` file or several ``image[]`` files (in order), an optional ``mask`` file. Input
images are checked against the model's limits (`imagegate.testing.simulator._edits`:
gpt-image up to 16, dall-e-2 one square PNG; the mask a PNG with alpha, the first image's
size) and recorded by digest; a refusal is a 400 ``invalid_request_error`` naming the
``param`` (``image`` or ``mask``). dall-e-2's wording is the one clients quote ("Invalid
input image - expected an image with equal width and height, got 1024x768 instead.", "…
format must be in ['RGBA', 'LA', 'L'], got RGB."); the others are not in the record.

``url`` images are served by the simulator and expire after 60 simulated minutes.
Every response carries ``x-request-id`` and ``x-ratelimit-*`` headers.

Shapes, and where they come from:

- The answer (openai-python ``src/openai/types/images_response.py``, generated from
  OpenAI's OpenAPI spec): gpt-image answers echo the ``quality``, ``background``,
  ``output_format`` and ``size`` used (``auto`` resolved: the quality the model chose,
  ``opaque``), and ``usage`` with ``input_tokens_details`` and ``output_tokens_details``
  (image and text tokens).
- Output tokens per image (https://platform.openai.com/docs/guides/image-generation,
  "Cost and latency"): 1024x1024 low 272, medium 1056, high 4160; 1024x1536 408 / 1584 /
  6240; 1536x1024 400 / 1568 / 6208; other sizes in proportion to their pixels.
- ``output_format`` ``jpeg`` and ``webp`` deliver JPEG and WebP bytes.
- A 429 comes with ``retry-after``/``retry-after-ms`` and "Please try again in 12s", or
  with neither header and "Please try again after 51.84 seconds".
- A refusal is never an empty 200: gpt-image answers 400 ``moderation_blocked``
  (``moderation_details`` naming the stage when a moderation check made the call, no
  details for a plain refusal), dall-e 400 ``content_policy_violation``.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import replace
from typing import Any, Final

from aiohttp import BodyPartReader, web

from imagegate._result import GeneratedImage
from imagegate.testing.simulator._core import (
    Ask,
    Call,
    Reply,
    SimContext,
    json_reply,
    reject,
    run_attempt,
)
from imagegate.testing.simulator._edits import check_inputs, has_alpha
from imagegate.testing.simulator._media import ImageFormat, encoded, encoded_b64, shrunk
from imagegate.testing.simulator._openai_rules import invalid, openai_error, validate

__all__ = ["add_openai_routes", "serve_file"]

_URL_TTL_S: Final = 3600.0
# Output tokens of one image by quality and size (OpenAI's published gpt-image-1 table).
_TOKENS: Final = {
    "low": {"1024x1024": 272, "1024x1536": 408, "1536x1024": 400},
    "medium": {"1024x1024": 1056, "1024x1536": 1584, "1536x1024": 1568},
    "high": {"1024x1024": 4160, "1024x1536": 6240, "1536x1024": 6208},
}
# Above high (gpt-image-2 and later), per 1024x1024, in proportion to pixels elsewhere.
_TOKENS_PER_MP: Final = {"low": 272, "medium": 1056, "high": 4160, "xhigh": 6240, "max": 8320}
# What ``quality: auto`` turns out to be, by the attempt's image seed: mostly medium.
_AUTO_QUALITY: Final = ("medium", "medium", "high", "medium", "low", "medium", "high", "medium")
_FORMATS: Final = ("png", "jpeg", "webp")
_FIXED_ERRORS: Final[dict[str, tuple[int, str, str, str | None]]] = {
    "quota_exhausted": (
        429,
        "You exceeded your current quota, please check your plan and billing details. For "
        "more information on this error, read the docs: "
        "https://platform.openai.com/docs/guides/error-codes/api-errors.",
        "insufficient_quota",
        "insufficient_quota",
    ),
    "overloaded": (
        503,
        "The engine is currently overloaded, please try again later",
        "server_error",
        None,
    ),
    "deadline": (504, "Request timed out.", "server_error", "timeout"),
    "internal": (
        500,
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
}
"""Errors that say the same whatever was asked: kind → (status, message, type, code)."""


def add_openai_routes(app: web.Application, ctx: SimContext) -> None:
    """Serve OpenAI Images under ``/openai``."""

    async def generate(request: web.Request) -> web.StreamResponse:
        return await _generate(ctx, request)

    async def download(request: web.Request) -> web.StreamResponse:
        return serve_file(ctx, request)

    async def unknown(request: web.Request) -> web.StreamResponse:
        return _response(
            openai_error(
                404, f"Invalid URL ({request.method} {request.path})", "invalid_request_error"
            )
        )

    async def edit(request: web.Request) -> web.StreamResponse:
        return await _edit(ctx, request)

    app.router.add_post("/openai/v1/images/generations", generate)
    app.router.add_post("/openai/v1/images/edits", edit)
    app.router.add_get("/openai/files/{name}", download)
    app.router.add_route("*", "/openai/{tail:.*}", unknown)


def serve_file(ctx: SimContext, request: web.Request) -> web.Response:
    """A stored download (an OpenAI ``url`` image), or Azure's 403 once it expired."""
    entry = ctx.files.get(request.match_info["name"])
    if entry is None or entry[2] < ctx.clock.now():
        body = (
            '<?xml version="1.0" encoding="utf-8"?><Error><Code>AuthenticationFailed</Code>'
            "<Message>Server failed to authenticate the request. Signed expiry time has "
            "passed.</Message></Error>"
        )
        return web.Response(status=403, text=body, content_type="application/xml")
    data, content_type, _ = entry
    return web.Response(body=data, content_type=content_type)


def _response(reply: Reply) -> web.Response:
    headers = {"Content-Type": reply.content_type, **reply.headers}
    return web.Response(status=reply.status, body=reply.body, headers=headers)


def _masked(key: str) -> str:
    return key[:3] + "*" * max(0, len(key) - 7) + key[-4:] if len(key) > 8 else "*" * len(key)


def _auth(ctx: SimContext, request: web.Request) -> Reply | None:
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if not key:
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or "
            "as the password field (with blank username) if you're accessing the API from "
            "your browser and are prompted for a username and password. You can obtain an "
            "API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
        )
    if key != ctx.keys["openai"]:
        return openai_error(
            401,
            f"Incorrect API key provided: {_masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            code="invalid_api_key",
        )
    return None


async def _generate(ctx: SimContext, request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    return await _serve(ctx, request, body)


async def _edit(ctx: SimContext, request: web.Request) -> web.StreamResponse:
    """An ``images.edit`` call: the form's fields are checked like a generation's, then
    its images and mask."""
    fields, images, mask = await _read_form(request)
    return await _serve(ctx, request, fields, images=images, mask=mask)


async def _read_form(request: web.Request) -> tuple[dict[str, Any], list[bytes], bytes | None]:
    """The text fields (numbers as numbers), the ``image``/``image[]`` files in order and
    the ``mask`` file of a multipart body; a body that is not multipart has none."""
    fields: dict[str, Any] = {}
    images: list[bytes] = []
    mask: bytes | None = None
    if request.content_type != "multipart/form-data":  # a form without files
        posted = await request.post()
        fields = {k: int(str(v)) if k == "n" and str(v).isdigit() else v for k, v in posted.items()}
        return fields, images, mask
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        name = part.name or ""
        if name in ("image", "image[]"):
            images.append(bytes(await part.read()))
        elif name == "mask":
            mask = bytes(await part.read())
        else:
            text = await part.text()
            fields[name] = int(text) if text.isdigit() and name == "n" else text
    return fields, images, mask


def _edit_problem(
    ask: Ask, options: dict[str, Any], images: list[bytes], mask: bytes | None
) -> tuple[Ask, Reply | None]:
    """The ask with its inputs' digests, and the 400 they earn, if any."""
    inputs = check_inputs("openai", ask.model, images, mask, mask_needs_alpha=True)
    ask = replace(ask, images=inputs.images, mask=inputs.mask)
    if not images:
        return ask, invalid(
            "Missing required parameter: 'image'.", "image", "missing_required_parameter"
        )
    if inputs.problem is not None:
        return ask, invalid(inputs.problem, inputs.field)
    if options.get("family") == "dall-e-2":
        return ask, _dall_e_2_problem(images[0], mask is not None)
    return ask, None


def _dall_e_2_problem(data: bytes, masked: bool) -> Reply | None:
    """dall-e-2 edits a square image, and without a mask one with transparency."""
    image = GeneratedImage(data)
    if image.width != image.height:
        return invalid(
            "Invalid input image - expected an image with equal width and height, got "
            f"{image.width}x{image.height} instead.", "image",
        )  # fmt: skip
    if not masked and not has_alpha(image):
        return invalid(
            "Invalid input image - format must be in ['RGBA', 'LA', 'L'], got RGB.", "image"
        )
    return None


async def _serve(
    ctx: SimContext,
    request: web.Request,
    body: dict[str, Any],
    *,
    images: list[bytes] | None = None,
    mask: bytes | None = None,
) -> web.StreamResponse:
    ask, problem, options = validate(body)
    assert ask is not None
    if images is not None and problem is None:
        ask, problem = _edit_problem(ask, options, images, mask)
    auth_failure = _auth(ctx, request)
    request_id = {"x-request-id": f"req_{secrets.token_hex(12)}"}
    if auth_failure is not None:
        auth_failure.headers = request_id
        return reject(ctx, ask, "auth_error", auth_failure)
    if problem is not None:
        problem.headers = request_id
        return reject(ctx, ask, "invalid_request", problem)

    def render(call: Call) -> Reply:
        reply = _render(ctx, call, options)
        reply.headers = {**_headers(ctx, call), **reply.headers}
        return reply

    return await run_attempt(
        ctx,
        request,
        ask,
        render,
        on_unknown=lambda a: openai_error(
            404,
            f"The model `{a.model}` does not exist or you do not have access to it.",
            "invalid_request_error",
            code="model_not_found",
        ),
        on_invalid=lambda message: invalid(message, "prompt"),
    )


def _headers(ctx: SimContext, call: Call) -> dict[str, str]:
    limit = call.profile.rpm or 5000
    # Usage as of when this request was counted (as the real API reports it), not when
    # its answer is ready: a slow answer must not fall out of its own minute.
    used, _ = ctx.quotas.minute_usage(
        call.profile, provider="openai", model=call.ask.model, now=call.record.started
    )
    return {
        "x-request-id": f"req_{call.token}",
        "openai-processing-ms": str(round(call.planned.latency_s * 1000)),
        "openai-version": "2020-10-01",
        "openai-organization": "org-simulator",
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(max(0, limit - used)),
        "x-ratelimit-reset-requests": f"{math.ceil(60_000 / limit)}ms",
    }


def _render(ctx: SimContext, call: Call, options: dict[str, Any]) -> Reply:
    kind = call.kind
    if kind == "rate_limited":
        return _rate_limited(call)
    fixed = _FIXED_ERRORS.get(kind)
    if fixed is not None:
        status, message, error_type, code = fixed
        return openai_error(status, message, error_type, code=code)
    if kind in ("prompt_blocked", "image_safety", "text_refusal"):
        return _moderated(call, gpt=options["family"].startswith("gpt-image"))
    return _images(ctx, call, options)


def _rate_limited(call: Call) -> Reply:
    """Both phrasings OpenAI uses, by the attempt's image seed: with ``retry-after`` and
    "try again in 12s", or no retry header and "try again after 51.84 seconds"."""
    delay = call.retry_after_s
    limit = call.verdict.limit if call.verdict else (call.profile.ipm or 5)
    with_headers = call.planned.image_seed % 2 == 0
    wait = f"in {delay:.3g}s" if with_headers else f"after {delay:.2f} seconds"
    headers = (
        {
            "retry-after": str(max(1, math.ceil(delay))),
            "retry-after-ms": str(max(1, round(delay * 1000))),
        }
        if with_headers
        else {}
    )
    return openai_error(
        429,
        f"Rate limit reached for {call.ask.model} in organization org-simulator on images per "
        f"min (IPM): Limit {limit}, Used {limit}, Requested {call.ask.n}. Please try again "
        f"{wait}. Visit https://platform.openai.com/account/rate-limits to learn more.",
        "requests",
        code="rate_limit_exceeded",
        headers=headers,
    )


def _moderated(call: Call, *, gpt: bool) -> Reply:
    """dall-e's content policy violation, or gpt-image's moderation block: with the
    stage a moderation check stopped it at, or without details for a plain refusal."""
    if not gpt:
        reply = openai_error(
            400,
            "Your request was rejected as a result of our safety system. Your prompt may "
            "contain text that is not allowed by our safety system.",
            "invalid_request_error",
            code="content_policy_violation",
        )
    else:
        stage = {"prompt_blocked": "input", "image_safety": "output"}.get(call.kind)
        details = {"moderation_stage": stage, "categories": ["other"]} if stage else None
        reply = openai_error(
            400,
            "Your request was rejected by the safety system. If you believe this is an "
            f"error, contact us at help.openai.com and include the request ID "
            f"req_{call.token}.",
            "image_generation_user_error",
            code="moderation_blocked",
            extra={"moderation_details": details} if details else None,
        )
    if call.kind == "text_refusal":
        reply.billed = False  # refused before any image was made
    return reply


def _images(ctx: SimContext, call: Call, options: dict[str, Any]) -> Reply:
    width, height = options["width"], options["height"]
    if call.kind == "size_ignored":
        width, height = shrunk(width, height, call.ask.size)
    items = [_item(ctx, call, options, index, width, height) for index in range(call.ask.n)]
    payload: dict[str, Any] = {
        "created": int(ctx.world.scenario.start.timestamp() + call.now),
        "data": items,
    }
    if options["family"].startswith("gpt-image"):
        payload.update(_gpt_image_fields(call, options, width, height))
    reply = json_reply(200, payload)
    reply.width, reply.height = width, height
    return reply


def _item(
    ctx: SimContext, call: Call, options: dict[str, Any], index: int, width: int, height: int
) -> dict[str, Any]:
    """One ``data`` item: a stored file's ``url`` or ``b64_json`` (dall-e-3: with its
    ``revised_prompt``)."""
    fmt: ImageFormat = options["output_format"] if options["output_format"] in _FORMATS else "png"
    image_seed = (call.planned.image_seed + index) % 8
    if options["response_format"] == "url":
        name = f"img-{call.token}-{index}.{fmt}"
        data = encoded(fmt, width, height, image_seed, ctx.payload)
        ctx.store_file(name, data, f"image/{fmt}", ttl_s=_URL_TTL_S)
        item: dict[str, Any] = {
            "url": f"{ctx.base}/openai/files/{name}?se={int(call.now + _URL_TTL_S)}"
            f"&sp=r&sig={call.token[:16]}"
        }
    else:
        item = {"b64_json": encoded_b64(fmt, width, height, image_seed, ctx.payload)}
    if options["family"] == "dall-e-3":
        item["revised_prompt"] = f"A detailed rendering of: {call.ask.prompt}"
    return item


def _gpt_image_fields(
    call: Call, options: dict[str, Any], width: int, height: int
) -> dict[str, Any]:
    """What gpt-image answers add: the settings used (``auto`` resolved), and the usage."""
    quality = options["quality"]
    if quality == "auto":
        quality = _AUTO_QUALITY[call.planned.image_seed % len(_AUTO_QUALITY)]
    size = f"{width}x{height}"
    per_image = _TOKENS.get(quality, {}).get(size) or round(
        _TOKENS_PER_MP.get(quality, 4160) * width * height / 1024**2
    )
    text_tokens = max(1, len(call.ask.prompt) // 4)
    output = per_image * call.ask.n
    background = options["background"]
    return {
        "background": "opaque" if background == "auto" else background,
        "output_format": options["output_format"],
        "quality": quality,
        "size": size,
        "usage": {
            "total_tokens": text_tokens + output,
            "input_tokens": text_tokens,
            "output_tokens": output,
            "input_tokens_details": {"text_tokens": text_tokens, "image_tokens": 0},
            "output_tokens_details": {"image_tokens": output, "text_tokens": 0},
        },
    }

"""An OpenAI-compatible aggregator (OpenRouter style) that forwards to Gemini.

Served under ``/openai_compatible/v1``:

- ``POST /chat/completions`` with ``modalities`` containing ``"image"`` and an optional
  ``image_config`` (``aspect_ratio``, ``image_size``): the images come back as data URLs
  in ``choices[0].message.images[]``, the price in ``usage.cost``.
- ``POST /images/generations`` (OpenAI shape) and ``POST /images`` (OpenRouter's image
  API, with ``resolution`` and ``aspect_ratio``): ``data[].b64_json`` and ``usage.cost``.

Errors use OpenRouter's ``{"error": {"code", "message", "metadata"}}``. A server deadline
reached after the aggregator has started answering comes back as HTTP 200 with the error
in the body, as OpenRouter does for failures after generation started.
"""

from __future__ import annotations

import json
import math
from typing import Any, Final

from aiohttp import web

from imagegate._request import parse_aspect_ratio
from imagegate.testing.simulator._core import (
    Ask,
    Call,
    Reply,
    SimContext,
    json_reply,
    reject,
    run_attempt,
)
from imagegate.testing.simulator._media import (
    encoded_b64,
    gemini_pixels,
    ratio_of,
    shrunk,
    size_of_pixels,
)
from imagegate.testing.simulator._openai_rules import parse_wxh

__all__ = ["add_aggregator_routes"]

_PROVIDER: Final = "openai_compatible"
_DEFAULT_PRICE_USD: Final = 0.06
_TOKENS_PER_IMAGE: Final = 1290
_REFUSAL: Final = "I'm sorry, but I can't create that image."
_CHAT_CONTENT: Final[dict[str, str | None]] = {"image_safety": None, "text_refusal": _REFUSAL}
"""The message text of answers without an image; others say "Here is your image."."""


def add_aggregator_routes(app: web.Application, ctx: SimContext) -> None:
    """Serve the aggregator under ``/openai_compatible/v1``."""

    async def chat(request: web.Request) -> web.StreamResponse:
        return await _handle(ctx, request, chat=True)

    async def images(request: web.Request) -> web.StreamResponse:
        return await _handle(ctx, request, chat=False)

    async def unknown(request: web.Request) -> web.StreamResponse:
        reply = _error(404, f"Not Found: {request.method} {request.path}")
        return web.Response(status=404, body=reply.body, content_type="application/json")

    app.router.add_post("/openai_compatible/v1/chat/completions", chat)
    app.router.add_post("/openai_compatible/v1/images/generations", images)
    app.router.add_post("/openai_compatible/v1/images", images)
    app.router.add_route("*", "/openai_compatible/{tail:.*}", unknown)


def _error(
    code: int,
    message: str,
    metadata: dict[str, Any] | None = None,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    error: dict[str, Any] = {"code": code, "message": message}
    if metadata:
        error["metadata"] = metadata
    return json_reply(code if status is None else status, {"error": error}, headers=headers)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    return ""


def _parse(body: dict[str, Any], *, chat: bool) -> tuple[Ask, str | None, tuple[int, int] | None]:
    """The ask, a problem to report as 400 (or None), and explicit pixels if given."""
    model = str(body.get("model") or "")
    prompt = _chat_prompt(body) if chat else _images_prompt(body)
    partial = Ask(_PROVIDER, model, "1K", "1:1", 1, prompt)
    pixels, problem = (None, None) if chat else _explicit_pixels(body)
    problem = problem or _missing(model, prompt, body, chat=chat)
    if problem is not None:
        return partial, problem, None
    if pixels is not None:  # images mode only
        width, height = pixels
        ask = Ask(
            _PROVIDER, model, size_of_pixels(width, height), ratio_of(width, height),
            int(body.get("n", 1)), prompt,
        )  # fmt: skip
        return ask, None, pixels
    tiered, problem = _tiered_ask(body, model, prompt, 1 if chat else body.get("n", 1))
    return (partial if tiered is None else tiered), problem, None


def _explicit_pixels(body: dict[str, Any]) -> tuple[tuple[int, int] | None, str | None]:
    """An images request's ``size`` as pixels (None for none or ``auto``), or the problem."""
    size = body.get("size")
    if not isinstance(size, str) or size == "auto":
        return None, None
    pixels = parse_wxh(size)
    return pixels, None if pixels is not None else f"invalid size {size!r}"


def _chat_prompt(body: dict[str, Any]) -> str:
    """The text of every user message, one per line."""
    messages = body.get("messages")
    return "\n".join(
        _text_of(m.get("content"))
        for m in (messages if isinstance(messages, list) else [])
        if isinstance(m, dict) and m.get("role") == "user"
    )


def _images_prompt(body: dict[str, Any]) -> str:
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _missing(model: str, prompt: str, body: dict[str, Any], *, chat: bool) -> str | None:
    """What the request lacks: a model, a prompt, or (chat) the image modality."""
    if not model:
        return "No models provided"
    if not prompt:
        return "Input required: the prompt is empty"
    if chat and "image" not in [str(m).lower() for m in body.get("modalities") or []]:
        return (
            'The simulator\'s aggregator only generates images: set modalities to ["image", "text"]'
        )
    return None


def _tiered_ask(
    body: dict[str, Any], model: str, prompt: str, n: object
) -> tuple[Ask | None, str | None]:
    """The ask from a tier and ratio (``image_config``, or ``resolution`` and
    ``aspect_ratio``), or the problem with them."""
    raw_config = body.get("image_config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    size = str(config.get("image_size") or body.get("resolution") or "1K")
    ratio = str(config.get("aspect_ratio") or body.get("aspect_ratio") or "1:1")
    if size not in ("1K", "2K", "4K"):
        return None, f"image_size must be one of 1K, 2K, 4K, got {size!r}"
    try:
        w, h = parse_aspect_ratio(ratio)
    except ValueError as exc:
        return None, str(exc)
    if not isinstance(n, int) or not 1 <= n <= 10:
        return None, "n must be between 1 and 10"
    return Ask(_PROVIDER, model, size, f"{w}:{h}", n, prompt), None  # type: ignore[arg-type]


async def _handle(ctx: SimContext, request: web.Request, *, chat: bool) -> web.StreamResponse:
    try:
        body = await request.json(loads=json.loads)
    except ValueError:
        body = None
    ask, problem, pixels = _parse(body if isinstance(body, dict) else {}, chat=chat)
    header = request.headers.get("Authorization", "")
    key = header[7:].strip() if header.lower().startswith("bearer ") else ""
    if key != ctx.keys[_PROVIDER]:
        message = "No auth credentials found" if not key else "User not found."
        return reject(ctx, ask, "auth_error", _error(401, message))
    if problem is not None:
        return reject(ctx, ask, "invalid_request", _error(400, problem))

    def render(call: Call) -> Reply:
        return _render(ctx, call, chat=chat, pixels=pixels)

    return await run_attempt(
        ctx,
        request,
        ask,
        render,
        on_unknown=lambda a: _error(400, f"{a.model} is not a valid model ID"),
        on_invalid=lambda message: _error(400, message),
    )


def _render(ctx: SimContext, call: Call, *, chat: bool, pixels: tuple[int, int] | None) -> Reply:
    kind = call.kind
    upstream = {"provider_name": "Google"}
    if kind == "rate_limited":
        delay = call.retry_after_s
        return _error(
            429,
            f"{call.ask.model} is temporarily rate-limited upstream. Please retry shortly.",
            upstream,
            headers={"Retry-After": str(max(1, math.ceil(delay)))},
        )
    if kind == "quota_exhausted":
        return _error(
            402,
            "Insufficient credits. This account never purchased credits. Make sure your key "
            "is on the correct account or org, and if so, purchase more.",
        )
    if kind == "overloaded":
        raw = '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}'
        return _error(
            503, "Provider returned error", {**upstream, "raw": raw}, headers={"Retry-After": "5"}
        )
    if kind == "internal":
        return _error(502, "Provider returned error", {**upstream, "raw": "Internal error"})
    if kind == "deadline":
        # Headers went out long ago; the failure can only be told in the body.
        return _error(
            504, "Deadline expired before operation could complete.", upstream, status=200
        )
    if kind == "prompt_blocked":
        return _error(
            403,
            f"{call.ask.model} requires moderation on Google. Your input was flagged for "
            '"sexual/minors".',
            {"reasons": ["sexual/minors"], "flagged_input": call.ask.prompt[:100], **upstream},
        )
    return _answer(ctx, call, chat=chat, pixels=pixels)


def _answer(ctx: SimContext, call: Call, *, chat: bool, pixels: tuple[int, int] | None) -> Reply:
    ask = call.ask
    width, height = pixels or gemini_pixels(ask.model, ask.size, ask.aspect_ratio)
    if call.kind == "size_ignored":
        width, height = shrunk(width, height, ask.size)
    count = ask.n if call.kind not in ("image_safety", "text_refusal") else 0
    images = [
        encoded_b64("png", width, height, (call.planned.image_seed + i) % 8, ctx.payload)
        for i in range(count)
    ]
    created = int(ctx.world.scenario.start.timestamp() + call.now)
    usage = _usage(call, count)
    if chat:
        payload = _chat_payload(call, images, created, usage)
    else:
        payload = {
            "created": created,
            "data": [{"b64_json": b64, "media_type": "image/png"} for b64 in images],
            "usage": usage,
        }
    reply = json_reply(200, payload)
    if images:
        reply.width, reply.height = width, height
    return reply


def _usage(call: Call, count: int) -> dict[str, Any]:
    """Tokens and the cost of ``count`` images (a text-only answer costs a little)."""
    price = call.profile.price_usd if call.profile.price_usd is not None else _DEFAULT_PRICE_USD
    prompt_tokens = max(1, len(call.ask.prompt) // 4)
    completion = _TOKENS_PER_IMAGE * count + 12
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "cost": round(price * count, 6) if count else 0.0002,
    }


def _chat_payload(
    call: Call, images: list[str], created: int, usage: dict[str, Any]
) -> dict[str, Any]:
    """A chat completion whose message carries the images as data URLs."""
    blocked = call.kind == "image_safety"
    message: dict[str, Any] = {
        "role": "assistant",
        "content": _CHAT_CONTENT.get(call.kind, "Here is your image."),
        "refusal": None,
        "reasoning": None,
    }
    if images:
        message["images"] = [
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}, "index": i}
            for i, b64 in enumerate(images)
        ]
    return {
        "id": f"gen-{created}-{call.token[:20]}",
        "provider": "Google",
        "model": call.ask.model,
        "object": "chat.completion",
        "created": created,
        "choices": [
            {
                "index": 0,
                "finish_reason": "content_filter" if blocked else "stop",
                "native_finish_reason": "IMAGE_SAFETY" if blocked else "STOP",
                "logprobs": None,
                "message": message,
            }
        ],
        "usage": usage,
    }

"""An OpenAI-compatible aggregator (OpenRouter style) that forwards to Gemini.

Served under ``/openai_compatible/v1``:

- ``POST /chat/completions`` with ``modalities`` containing ``"image"`` and an optional
  ``image_config`` (``aspect_ratio``, ``image_size``): the images come back as data URLs
  in ``choices[0].message.images[]``, the price in ``usage.cost``.
- ``POST /images``, OpenRouter's image API (https://openrouter.ai/docs/api/api-reference/
  images/generate-an-image; the OpenAPI spec in OpenRouterTeam/typescript-sdk,
  ``.speakeasy/in.openapi.yaml``, path ``/images``): ``{model, prompt}`` with
  ``resolution`` + ``aspect_ratio`` or ``size`` (a tier, or explicit ``WxH``), answered
  ``{created, data: [{b64_json, media_type}], usage}``. OpenRouter documents no
  ``/images/generations``, so it is not served (404, like any unknown path).

Input images (chat only) are ``image_url`` content parts holding data URLs, after the
text as OpenRouter's docs ask (https://openrouter.ai/docs/guides/overview/multimodal/images);
they are checked against the Gemini model's limits (`imagegate.testing.simulator._edits`)
and recorded by digest, in order; a refusal is a 400 in OpenRouter's error shape. An
``http(s)`` image URL is refused: the simulator fetches nothing.

``usage`` is OpenRouter's (spec schema ``ImageGenerationUsage``): token counts with
``completion_tokens_details.image_tokens``, ``cost`` derived from the tokens at Google's
published per-token prices (https://ai.google.dev/gemini-api/docs/pricing), ``is_byok``
and ``cost_details``. Errors use OpenRouter's ``{"error": {"code", "message",
"metadata"}}`` (https://openrouter.ai/docs/api/reference/errors-and-debugging): an
upstream failure says "Provider returned error" with the upstream's own text in
``metadata.raw`` and ``provider_name``; a 429 carries no ``Retry-After``; a moderation 403
names ``reasons``, ``flagged_input``, ``provider_name`` and ``model_slug``. A server
deadline reached after the aggregator has started answering comes back as HTTP 200 with
the error in the body, as OpenRouter does for failures after generation started.
"""

from __future__ import annotations

import json
from dataclasses import replace
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
from imagegate.testing.simulator._edits import check_inputs, decode_base64
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
_UPSTREAM: Final = "Google AI Studio"
# USD per token (input, text output, image output) and image tokens per tier, from
# https://ai.google.dev/gemini-api/docs/pricing: Gemini 3 Pro Image $2 / $12 / $120 per
# 1M tokens, 1120 image tokens at 1K and 2K, 2000 at 4K; 2.5 Flash Image $0.30 / $2.50 /
# $30 per 1M, 1290 image tokens (1K only).
_TOKEN_PRICES: Final = {
    "gemini-3": ((2e-6, 12e-6, 120e-6), {"1K": 1120, "2K": 1120, "4K": 2000}),
    "gemini-2.5": ((0.3e-6, 2.5e-6, 30e-6), {"1K": 1290, "2K": 1290, "4K": 1290}),
}
# OpenRouter's image API names these ratios (ImageGenerationRequest.aspect_ratio).
_IMAGES_RATIOS: Final = frozenset((
    "1:1", "1:2", "1:4", "1:8", "2:1", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1",
    "9:16", "16:9", "9:19.5", "19.5:9", "9:20", "20:9", "9:21", "21:9", "auto",
))  # fmt: skip
_REFUSAL: Final = "I'm sorry, but I can't create that image."


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
    """An images request's ``size`` as pixels (None for none or a tier), or the problem.

    The spec: a tier ``size`` is ``resolution``; explicit pixels are authoritative, and a
    ``resolution`` or ``aspect_ratio`` alongside them is rejected.
    """
    size = body.get("size")
    if not isinstance(size, str) or size in ("512", "1K", "2K", "4K"):
        return None, None
    pixels = parse_wxh(size)
    if pixels is None:
        return None, f"invalid size {size!r}: a tier (1K, 2K, 4K) or WIDTHxHEIGHT"
    if body.get("resolution") or body.get("aspect_ratio"):
        return None, "size in pixels conflicts with resolution or aspect_ratio"
    return pixels, None


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
    """What the request lacks: a model, a prompt, or (chat) image among the modalities it
    names. Without ``modalities`` an image model still answers with an image, as LiteLLM's
    OpenRouter image client relies on (BerriAI/litellm,
    ``litellm/llms/openrouter/image_generation/transformation.py``, sends none)."""
    if not model:
        return "No models provided"
    if not prompt:
        return "Input required: the prompt is empty"
    modalities = body.get("modalities")
    if chat and modalities is not None and "image" not in [str(m).lower() for m in modalities]:
        return (
            'The simulator\'s aggregator only generates images: set modalities to ["image", "text"]'
        )
    return None


def _tiered_ask(
    body: dict[str, Any], model: str, prompt: str, n: object
) -> tuple[Ask | None, str | None]:
    """The ask from a tier and ratio (chat: ``image_config``; images: ``resolution`` or a
    tier ``size``, and ``aspect_ratio``), or the problem with them."""
    raw_config = body.get("image_config")
    config: dict[str, Any] = raw_config if isinstance(raw_config, dict) else {}
    tier = body.get("resolution") or body.get("size")
    size = str(config.get("image_size") or tier or "1K")
    ratio = str(config.get("aspect_ratio") or body.get("aspect_ratio") or "1:1")
    if not raw_config and ratio not in _IMAGES_RATIOS:
        return None, f"aspect_ratio must be one of {', '.join(sorted(_IMAGES_RATIOS))}"
    if size not in ("1K", "2K", "4K"):
        return None, f"{model} does not support resolution {size!r}: use 1K, 2K or 4K"
    try:
        w, h = parse_aspect_ratio(_whole("1:1" if ratio == "auto" else ratio))
    except ValueError as exc:
        return None, str(exc)
    if not isinstance(n, int) or not 1 <= n <= 10:
        return None, "n must be between 1 and 10"
    return Ask(_PROVIDER, model, size, f"{w}:{h}", n, prompt), None  # type: ignore[arg-type]


def _image_urls(body: dict[str, Any]) -> list[object]:
    """The ``image_url.url`` of every image part of the user messages, in order."""
    urls: list[object] = []
    messages = body.get("messages")
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if not isinstance(content, list) or message.get("role") != "user":
            continue
        for part in content:
            if isinstance(part, dict) and part.get("type") == "image_url":
                image_url = part.get("image_url")
                urls.append(image_url.get("url") if isinstance(image_url, dict) else None)
    return urls


def _with_inputs(ask: Ask, body: dict[str, Any]) -> tuple[Ask, str | None]:
    """The ask with the digests of the user messages' images, and a problem with them."""
    urls = _image_urls(body)
    if not urls:
        return ask, None
    images = [_data_url_bytes(url) for url in urls]
    inputs = check_inputs(_PROVIDER, ask.model, [b"" if i is None else i for i in images])
    ask = replace(ask, images=inputs.images)
    if any(i is None for i in images):
        return ask, "Invalid image_url: the simulator takes base64 data URLs only"
    return ask, inputs.problem


def _data_url_bytes(url: object) -> bytes | None:
    """The bytes of a ``data:<type>;base64,…`` URL (empty when the base64 is broken), or
    None for anything else."""
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    return decode_base64(url.split(",", 1)[1])


def _whole(ratio: str) -> str:
    """``"9:19.5"`` as whole numbers (``"18:39"``)."""
    if "." not in ratio:
        return ratio
    width, _, height = ratio.partition(":")
    return f"{round(float(width) * 2)}:{round(float(height) * 2)}"


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
    if chat:
        ask, problem = _with_inputs(ask, body if isinstance(body, dict) else {})
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


def _provider_error(
    code: int, raw: str, *, status: int | None = None, headers: dict[str, str] | None = None
) -> Reply:
    """An upstream failure as OpenRouter relays it: its own words in ``metadata.raw``."""
    metadata = {"raw": raw, "provider_name": _UPSTREAM, "is_byok": False}
    return _error(code, "Provider returned error", metadata, status=status, headers=headers)


def _render(ctx: SimContext, call: Call, *, chat: bool, pixels: tuple[int, int] | None) -> Reply:
    kind = call.kind
    model = call.ask.model
    if kind == "rate_limited":
        # No Retry-After: OpenRouter sends none on an upstream rate limit.
        return _provider_error(
            429,
            f"{model} is temporarily rate-limited upstream. Please retry shortly, or add "
            "your own key to accumulate your rate limits: "
            "https://openrouter.ai/settings/integrations",
        )
    if kind == "quota_exhausted":
        return _error(
            402,
            "Insufficient credits. This account never purchased credits. Make sure your key "
            "is on the correct account or org, and if so, purchase more.",
        )
    if kind == "overloaded":
        return _provider_error(
            503,
            '{"error":{"code":503,"message":"The model is overloaded. Please try again later.",'
            '"status":"UNAVAILABLE"}}',
            headers={"Retry-After": "5"},  # the errors page: a 503 may carry Retry-After
        )
    if kind == "internal":
        return _provider_error(
            502,
            '{"error":{"code":500,"message":"An internal error has occurred. Please retry or '
            'report in https://developers.generativeai.google/guide/troubleshooting",'
            '"status":"INTERNAL"}}',
        )
    if kind == "deadline":
        # Headers went out long ago; the failure can only be told in the body.
        return _provider_error(
            504,
            '{"error":{"code":504,"message":"Deadline expired before operation could '
            'complete.","status":"DEADLINE_EXCEEDED"}}',
            status=200,
        )
    if kind == "prompt_blocked":
        return _error(
            403,
            f"{model} requires moderation on {_UPSTREAM}. Your input was flagged for "
            '"sexual/minors".',
            {
                "reasons": ["sexual/minors"],
                "flagged_input": call.ask.prompt[:100],
                "provider_name": _UPSTREAM,
                "model_slug": model,
            },
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
    """OpenRouter's usage: tokens, and the cost they come to (see the module docstring);
    a scenario's ``price_usd`` sets the per-image cost instead."""
    ask = call.ask
    family = "gemini-3" if "gemini-3" in ask.model or "nano-banana-pro" in ask.model else None
    family = family or ("gemini-2.5" if "gemini-2.5" in ask.model else None)
    (in_price, text_price, image_price), tiers = _TOKEN_PRICES[family or "gemini-3"]
    prompt_tokens = max(1, len(ask.prompt) // 4)
    text_tokens = 12 if count else 40
    image_tokens = tiers[ask.size] * count
    prompt_cost = prompt_tokens * in_price
    completion_cost = text_tokens * text_price + image_tokens * image_price
    if call.profile.price_usd is not None or family is None:
        price = call.profile.price_usd if call.profile.price_usd is not None else None
        completion_cost = (price or _DEFAULT_PRICE_USD) * count or completion_cost
    cost = round(prompt_cost + completion_cost, 9)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": text_tokens + image_tokens,
        "total_tokens": prompt_tokens + text_tokens + image_tokens,
        "cost": cost,
        "is_byok": False,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "cost_details": {
            "upstream_inference_cost": None,
            "upstream_inference_prompt_cost": round(prompt_cost, 9),
            "upstream_inference_completions_cost": round(completion_cost, 9),
        },
        "completion_tokens_details": {"reasoning_tokens": 0, "image_tokens": image_tokens},
    }


def _finish(call: Call) -> tuple[str, str, str | None]:
    """(finish_reason, native_finish_reason, message text) of an answer.

    Without an image, Gemini says why in its own words, which OpenRouter passes on as the
    native reason: a safety filter (IMAGE_SAFETY, IMAGE_PROHIBITED_CONTENT), a plain
    refusal in text (STOP), or no image and no words (NO_IMAGE).
    """
    odd = call.planned.image_seed % 2 == 1
    if call.kind == "image_safety":
        return "content_filter", "IMAGE_PROHIBITED_CONTENT" if odd else "IMAGE_SAFETY", None
    if call.kind == "text_refusal":
        return ("stop", "NO_IMAGE", None) if odd else ("stop", "STOP", _REFUSAL)
    return "stop", "STOP", "Here is your image."


def _chat_payload(
    call: Call, images: list[str], created: int, usage: dict[str, Any]
) -> dict[str, Any]:
    """A chat completion whose message carries the images as data URLs."""
    finish, native, text = _finish(call)
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text,
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
        "provider": _UPSTREAM,
        "model": call.ask.model,
        "object": "chat.completion",
        "created": created,
        "choices": [
            {
                "index": 0,
                "finish_reason": finish,
                "native_finish_reason": native,
                "logprobs": None,
                "message": message,
            }
        ],
        "usage": usage,
    }

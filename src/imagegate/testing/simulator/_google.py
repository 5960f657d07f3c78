"""The Gemini Developer API (AI Studio) and Vertex AI ``generateContent`` protocols.

Paths (under the ``/gemini`` and ``/vertex`` prefixes of the simulator):

- Gemini: ``POST /{v1,v1beta,v1alpha}/models/{model}:generateContent`` (and
  ``:streamGenerateContent?alt=sse``), key in ``x-goog-api-key`` or ``?key=``.
- Vertex: ``POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:…``
  (regional and global) with ``Authorization: Bearer``, and the express form
  ``/{v1,v1beta1}/publishers/google/models/{m}:…`` with an API key.

Bodies may use camelCase or snake_case keys, as the real service accepts both. Errors use
Google's envelope with ``Content-Type: application/json; charset=UTF-8`` (google-genai
only parses JSON error bodies with a JSON content type).
"""

from __future__ import annotations

import base64
import json
import math
import re
from typing import Any, Final

from aiohttp import web

from imagegate._request import Size, parse_aspect_ratio
from imagegate.testing.simulator._core import (
    Ask,
    Call,
    Reply,
    SimContext,
    json_reply,
    reject,
    run_attempt,
)
from imagegate.testing.simulator._google_errors import (
    GOOGLE_JSON,
    check_auth,
    google_error,
    quota_error,
)
from imagegate.testing.simulator._media import encoded_b64, gemini_pixels, only_1k, shrunk

__all__ = ["add_google_routes"]

_GEMINI_PATH: Final = re.compile(
    r"(?P<version>v1|v1beta|v1alpha)/models/(?P<model>[^:/]+):(?P<method>\w+)"
)
_VERTEX_PATH: Final = re.compile(
    r"(?:(?P<version>v1|v1beta1)/)?(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"publishers/google/models/(?P<model>[^:/]+):(?P<method>\w+)"
)
_METHODS: Final = ("generateContent", "streamGenerateContent")
_SIZES: Final = ("1K", "2K", "4K")
_THOUGHT: Final = (
    "**Composing the scene**\n\nI'm working out the layout and lighting the request "
    "describes before rendering the final image."
)
_REFUSAL: Final = (
    "I can't create that image. I'm not able to generate images of that kind, but I'm "
    "happy to help with a different idea."
)


def add_google_routes(app: web.Application, ctx: SimContext) -> None:
    """Serve the Gemini API under ``/gemini`` and Vertex AI under ``/vertex``."""

    async def gemini(request: web.Request) -> web.StreamResponse:
        return await _handle(ctx, request, "gemini")

    async def vertex(request: web.Request) -> web.StreamResponse:
        return await _handle(ctx, request, "vertex")

    app.router.add_route("*", "/gemini/{tail:.*}", gemini)
    app.router.add_route("*", "/vertex/{tail:.*}", vertex)


def _camel(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            re.sub(r"_([a-z0-9])", lambda m: m[1].upper(), key): _camel(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_camel(item) for item in value]
    return value


def _invalid(message: str) -> Reply:
    return google_error(400, "INVALID_ARGUMENT", message)


async def _handle(ctx: SimContext, request: web.Request, provider: str) -> web.StreamResponse:
    tail = request.match_info["tail"]
    pattern = _GEMINI_PATH if provider == "gemini" else _VERTEX_PATH
    route = pattern.fullmatch(tail)
    if route is None or route["method"] not in _METHODS or request.method != "POST":
        reply = google_error(404, "NOT_FOUND", f"Method not found: /{tail}")
        return web.Response(status=404, body=reply.body, headers={"Content-Type": GOOGLE_JSON})
    model = route["model"].removeprefix("models/")
    project = route["project"] if provider == "vertex" else None
    ask = await _checked_ask(ctx, request, provider, model, project)
    if isinstance(ask, web.Response):
        return ask
    stream = route["method"] == "streamGenerateContent"
    version = route["version"] or "v1beta1"

    def render(call: Call) -> Reply:
        return _render(ctx, call, stream=stream, version=version)

    return await run_attempt(
        ctx,
        request,
        ask,
        render,
        on_unknown=lambda a: google_error(
            404,
            "NOT_FOUND",
            f"models/{a.model} is not found for API version {version}, or "
            "is not supported for generateContent. Call ListModels to see the list of "
            "available models and their supported methods.",
        ),
        on_invalid=_invalid,
    )


async def _checked_ask(
    ctx: SimContext, request: web.Request, provider: str, model: str, project: str | None
) -> Ask | web.Response:
    """The ask, or the rejection: bad credentials first, then a body that does not parse."""
    try:
        raw = await request.json(loads=json.loads)
    except ValueError:
        raw = None
    partial = Ask(provider, model, "1K", "1:1", 1, "")
    auth_failure = check_auth(ctx, request, provider, project)
    if not isinstance(raw, dict):
        if auth_failure is not None:
            return reject(ctx, partial, "auth_error", auth_failure)
        invalid = _invalid("Invalid JSON payload received. Unexpected token.")
        return reject(ctx, partial, "invalid_request", invalid)
    ask, problem = _parse(_camel(raw), provider, model)
    if auth_failure is not None:
        return reject(ctx, ask or partial, "auth_error", auth_failure)
    if ask is None:
        return reject(ctx, partial, "invalid_request", _invalid(problem))
    return ask


def _parse(body: dict[str, Any], provider: str, model: str) -> tuple[Ask | None, str]:
    texts = _texts(body.get("contents"))
    if not texts:
        return None, "* GenerateContentRequest.contents: contents is not specified"
    config = body.get("generationConfig") or {}
    image_config = config.get("imageConfig") or {}
    problem = _modalities_problem(config) or _size_problem(image_config)
    if problem is not None:
        return None, problem
    try:
        w, h = parse_aspect_ratio(str(image_config.get("aspectRatio", "1:1")))
    except ValueError:
        return None, (
            "* GenerateContentRequest.generation_config.image_config.aspect_ratio: "
            f"unsupported aspect ratio {image_config.get('aspectRatio')!r}"
        )
    n = config.get("candidateCount", 1)
    if not isinstance(n, int) or not 1 <= n <= 8:
        return None, "* GenerateContentRequest.generation_config.candidate_count: must be 1-8"
    size = image_config.get("imageSize", "1K")
    return Ask(provider, model, size, f"{w}:{h}", n, "\n".join(texts)), ""


def _texts(contents: object) -> list[str]:
    """The text parts of ``contents`` (one content object, or a list of them)."""
    if isinstance(contents, dict):
        contents = [contents]
    texts: list[str] = []
    for content in contents if isinstance(contents, list) else []:
        parts = content.get("parts") if isinstance(content, dict) else None
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])
    return texts


def _modalities_problem(config: dict[str, Any]) -> str | None:
    modalities = [str(m).upper() for m in config.get("responseModalities") or ["TEXT", "IMAGE"]]
    if "IMAGE" in modalities:
        return None
    return "Model does not support the requested response modalities: " + ",".join(
        m.lower() for m in modalities
    )


def _size_problem(image_config: dict[str, Any]) -> str | None:
    size = image_config.get("imageSize", "1K")
    if size in _SIZES:
        return None
    return (
        "* GenerateContentRequest.generation_config.image_config.image_size: "
        f"unsupported image size {size!r}; use one of 1K, 2K, 4K"
    )


def _is_gemini_3(model: str) -> bool:
    return "gemini-3" in model or "nano-banana-pro" in model or "nano-banana-2" in model


def _tokens_per_image(model: str, size: Size) -> int:
    if not _is_gemini_3(model):
        return 1290
    return 2000 if size == "4K" else 1120


def _render(ctx: SimContext, call: Call, *, stream: bool, version: str) -> Reply:
    ask = call.ask
    kind = call.kind
    if kind == "rate_limited":
        return quota_error(call, per_day=False)
    if kind == "quota_exhausted":
        return quota_error(call, per_day=True)
    if kind == "overloaded":
        return google_error(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
    if kind == "deadline":
        return google_error(
            504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."
        )
    if kind == "internal":
        return google_error(
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        )
    prompt_tokens = max(1, math.ceil(len(ask.prompt) / 4))
    meta: dict[str, Any] = {"modelVersion": ask.model, "responseId": call.token[:22]}
    if kind == "prompt_blocked":
        payload = {
            "promptFeedback": {"blockReason": "PROHIBITED_CONTENT"},
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            **meta,
        }
        return _ok([payload], stream)
    if kind == "image_safety":
        payload = {
            "candidates": [
                {
                    "finishReason": "IMAGE_SAFETY",
                    "finishMessage": "Unable to show the generated image. The image was "
                    "filtered out because it violated Google's Generative AI Prohibited Use "
                    "policy.",
                    "index": 0,
                }
            ],
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens},
            **meta,
        }
        return _ok([payload], stream)
    if kind == "text_refusal":
        text_tokens = len(_REFUSAL) // 4
        payload = {
            "candidates": [
                {
                    "content": {"role": "model", "parts": [{"text": _REFUSAL}]},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": {
                "promptTokenCount": prompt_tokens,
                "candidatesTokenCount": text_tokens,
                "totalTokenCount": prompt_tokens + text_tokens,
            },
            **meta,
        }
        return _ok([payload], stream)
    return _image_answer(ctx, call, stream=stream, prompt_tokens=prompt_tokens, meta=meta)


def _image_answer(
    ctx: SimContext, call: Call, *, stream: bool, prompt_tokens: int, meta: dict[str, Any]
) -> Reply:
    ask = call.ask
    width, height = gemini_pixels(ask.model, ask.size, ask.aspect_ratio)
    if call.kind == "size_ignored":
        width, height = shrunk(width, height, ask.size)
    thinking = _is_gemini_3(ask.model)
    thought_parts = _thought_parts(width, height, call.planned.image_seed) if thinking else []
    candidates = [
        _candidate(ctx, call, index, width, height, thinking=thinking) for index in range(ask.n)
    ]
    usage = _image_usage(ask, prompt_tokens, thinking=thinking)
    final = {"candidates": candidates, "usageMetadata": usage, **meta}
    chunks = [final]
    if stream and thought_parts:
        first = {
            "candidates": [{"content": {"role": "model", "parts": thought_parts}, "index": 0}],
            **meta,
        }
        chunks = [first, final]
    elif thought_parts:
        for candidate in candidates:
            candidate["content"]["parts"][:0] = thought_parts
    reply = _ok(chunks, stream)
    reply.width, reply.height = width, height
    if only_1k(ask.model) and ask.size != "1K":
        reply.outcome = "size_ignored"  # 2.5 Flash Image renders 1K whatever imageSize says
    return reply


def _thought_parts(width: int, height: int, seed: int) -> list[dict[str, Any]]:
    """Gemini 3's "thinking": a text and a draft thumbnail, both marked as thoughts."""
    thumb = encoded_b64("png", max(16, width // 4), max(16, height // 4), seed + 7, "small")
    return [
        {"text": _THOUGHT, "thought": True},
        {"inlineData": {"mimeType": "image/png", "data": thumb}, "thought": True},
    ]


def _candidate(
    ctx: SimContext, call: Call, index: int, width: int, height: int, *, thinking: bool
) -> dict[str, Any]:
    """One candidate with its image (Gemini 3: signed; 2.5: after a line of text)."""
    data = encoded_b64("png", width, height, (call.planned.image_seed + index) % 8, ctx.payload)
    image: dict[str, Any] = {"inlineData": {"mimeType": "image/png", "data": data}}
    parts: list[dict[str, Any]] = []
    if thinking:
        image["thoughtSignature"] = base64.b64encode(f"sim-{call.token}".encode()).decode()
    else:
        parts.append({"text": "Here is the image you asked for."})
    parts.append(image)
    return {"content": {"role": "model", "parts": parts}, "finishReason": "STOP", "index": index}


def _image_usage(ask: Ask, prompt_tokens: int, *, thinking: bool) -> dict[str, Any]:
    image_tokens = _tokens_per_image(ask.model, ask.size)
    thoughts_tokens = 180 if thinking else 0
    output = image_tokens * ask.n + (0 if thinking else 9 * ask.n)
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": output,
        "totalTokenCount": prompt_tokens + output + thoughts_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
        "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": image_tokens * ask.n}],
    }
    if thinking:
        usage["thoughtsTokenCount"] = thoughts_tokens
    return usage


def _ok(chunks: list[dict[str, Any]], stream: bool) -> Reply:
    if not stream:
        return json_reply(200, chunks[0], content_type=GOOGLE_JSON)
    body = "".join(f"data: {json.dumps(c, separators=(',', ':'))}\r\n\r\n" for c in chunks)
    return Reply(200, body.encode(), "text/event-stream")

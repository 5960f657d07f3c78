"""The Gemini Developer API (AI Studio) and Vertex AI ``generateContent`` protocols.

Paths (under the ``/gemini`` and ``/vertex`` prefixes of the simulator):

- Gemini: ``POST /{v1,v1beta,v1alpha}/models/{model}:generateContent`` (and
  ``:streamGenerateContent?alt=sse``), key in ``x-goog-api-key`` or ``?key=``.
- Vertex: ``POST /{v1,v1beta1}/projects/{p}/locations/{l}/publishers/google/models/{m}:…``
  (regional and global) with ``Authorization: Bearer``, and the express form
  ``/{v1,v1beta1}/publishers/google/models/{m}:…`` with an API key.

Input images (edits, references) arrive as ``inlineData`` parts; they are checked
(`imagegate.testing.simulator._edits`) and recorded by digest, in order. A refusal is a
400 INVALID_ARGUMENT: "Unable to process input image. Please retry or report in …" for a
file that is not an image (the body recorded in github.com/google-gemini/gemini-cli issue
5064 and browser-use/browser-use issue 3740), "Request payload size exceeds the limit"
past the Gemini API's 100 MB of inline data (as LiteLLM's exception mapping quotes it),
the problem in words otherwise (wording not in the record).

Bodies may use camelCase or snake_case keys, as the real service accepts both. Errors use
Google's envelope with ``Content-Type: application/json; charset=UTF-8`` (google-genai
only parses JSON error bodies with a JSON content type).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from aiohttp import web

from imagegate._request import parse_aspect_ratio
from imagegate.testing.simulator._core import (
    Ask,
    Call,
    Reply,
    SimContext,
    reject,
    run_attempt,
)
from imagegate.testing.simulator._edits import check_inputs, decode_base64
from imagegate.testing.simulator._google_answers import AnswerOptions, render_answer
from imagegate.testing.simulator._google_errors import (
    GOOGLE_JSON,
    check_auth,
    google_error,
    quota_error,
)

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
_OVERLOADED: Final = (
    "The model is overloaded. Please try again later.",
    "Deadline expired before operation could complete.",
)
"""The two messages a 503 UNAVAILABLE comes with (both seen in Gemini image outages)."""
_FIELD: Final = re.compile(r"\* GenerateContentRequest\.([\w.]+):")
_INLINE_CAP: Final = 100_000_000
"""Inline data (base64) one Gemini API request may carry."""
_UNREADABLE: Final = (
    "Unable to process input image. Please retry or report in "
    "https://developers.generativeai.google/guide/troubleshooting"
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
    """400 INVALID_ARGUMENT with the field at fault in a ``BadRequest`` detail, as Google
    APIs report a bad field (google/rpc/error_details.proto, ``BadRequest.fieldViolations``)."""
    field = _FIELD.search(message)
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [
                {"field": field[1] if field else "contents", "description": message}
            ],
        }
    ]
    return google_error(400, "INVALID_ARGUMENT", message, details)


async def _handle(ctx: SimContext, request: web.Request, provider: str) -> web.StreamResponse:
    tail = request.match_info["tail"]
    pattern = _GEMINI_PATH if provider == "gemini" else _VERTEX_PATH
    route = pattern.fullmatch(tail)
    if route is None or route["method"] not in _METHODS or request.method != "POST":
        reply = google_error(404, "NOT_FOUND", f"Method not found: /{tail}")
        return web.Response(status=404, body=reply.body, headers={"Content-Type": GOOGLE_JSON})
    model = route["model"].removeprefix("models/")
    project = route["project"] if provider == "vertex" else None
    checked = await _checked_ask(ctx, request, provider, model, project)
    if isinstance(checked, web.Response):
        return checked
    ask, options = checked
    options = AnswerOptions(
        stream=route["method"] == "streamGenerateContent",
        include_thoughts=options.include_thoughts,
        text=options.text,
    )
    version = route["version"] or "v1beta1"

    def render(call: Call) -> Reply:
        return _render(ctx, call, options)

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
) -> tuple[Ask, AnswerOptions] | web.Response:
    """The ask and the answer's options, or the rejection: bad credentials first, then a
    body that does not parse."""
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
    body = _camel(raw)
    ask, problem = _parse(body, provider, model)
    if auth_failure is not None:
        return reject(ctx, ask or partial, "auth_error", auth_failure)
    if ask is None:
        return reject(ctx, partial, "invalid_request", _invalid(problem))
    ask, refusal = _with_inputs(ask, body.get("contents"))
    if refusal is not None:
        return reject(ctx, ask, "invalid_request", refusal)
    return ask, _answer_options(body)


def _with_inputs(ask: Ask, contents: object) -> tuple[Ask, Reply | None]:
    """The ask with its inline images' digests, and the refusal they earn, if any."""
    encoded = _inline_data(contents)
    if not encoded:
        return ask, None
    images = [decode_base64(text) for text in encoded]
    inputs = check_inputs(ask.provider, ask.model, images, per_image_cap=ask.provider != "gemini")
    ask = Ask(ask.provider, ask.model, ask.size, ask.aspect_ratio, ask.n, ask.prompt, inputs.images)
    if ask.provider == "gemini" and sum(map(len, encoded)) > _INLINE_CAP:
        message = f"Request payload size exceeds the limit: {_INLINE_CAP} bytes."
        return ask, google_error(400, "INVALID_ARGUMENT", message)
    if inputs.problem is None:
        return ask, None
    message = _UNREADABLE if inputs.kind == "unreadable" else inputs.problem
    return ask, google_error(400, "INVALID_ARGUMENT", message)


def _inline_data(contents: object) -> list[str]:
    """The base64 ``inlineData.data`` of every part, in order."""
    found: list[str] = []
    for part in _parts(contents):
        blob = part.get("inlineData")
        if isinstance(blob, dict):
            data = blob.get("data")
            found.append(data if isinstance(data, str) else "")
    return found


def _parts(contents: object) -> list[dict[str, Any]]:
    """Every part of ``contents`` (one content object, or a list of them), in order."""
    if isinstance(contents, dict):
        contents = [contents]
    parts: list[dict[str, Any]] = []
    for content in contents if isinstance(contents, list) else []:
        listed = content.get("parts") if isinstance(content, dict) else None
        parts += [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []
    return parts


def _answer_options(body: dict[str, Any]) -> AnswerOptions:
    """``includeThoughts`` and whether text is among the response modalities."""
    config = body.get("generationConfig") or {}
    thinking = config.get("thinkingConfig") or {}
    modalities = [str(m).upper() for m in config.get("responseModalities") or ["TEXT", "IMAGE"]]
    return AnswerOptions(
        include_thoughts=thinking.get("includeThoughts") is True, text="TEXT" in modalities
    )


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
    return [part["text"] for part in _parts(contents) if isinstance(part.get("text"), str)]


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


def _render(ctx: SimContext, call: Call, options: AnswerOptions) -> Reply:
    kind = call.kind
    if kind == "rate_limited":
        return quota_error(call, per_day=False)
    if kind == "quota_exhausted":
        return quota_error(call, per_day=True)
    if kind == "overloaded":
        message = _OVERLOADED[call.planned.image_seed % len(_OVERLOADED)]
        return google_error(503, "UNAVAILABLE", message)
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
    return render_answer(ctx, call, options)

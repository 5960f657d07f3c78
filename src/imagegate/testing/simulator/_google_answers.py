"""The 200 answers of ``generateContent``, as Gemini and Vertex AI really send them.

Where each shape comes from:

- Field names and enums: google-genai's ``google/genai/types.py`` (googleapis/python-genai,
  3.6): ``UsageMetadata.service_tier`` is sent by the Gemini API only
  (``"standard"``), ``traffic_type`` by Vertex only (``"ON_DEMAND"``); ``FinishReason``
  lists ``IMAGE_SAFETY``, ``IMAGE_PROHIBITED_CONTENT``, ``IMAGE_RECITATION``,
  ``IMAGE_OTHER`` and ``NO_IMAGE``.
- Vertex's envelope (https://cloud.google.com/vertex-ai/generative-ai/docs/reference/rest/
  v1/GenerateContentResponse): ``createTime``, ``responseId``, ``modelVersion``, and
  candidates without ``index``; the Gemini API numbers its candidates.
- Gemini 3 image models (https://ai.google.dev/gemini-api/docs/image-generation): the
  image is JPEG; thoughts come back only when ``thinkingConfig.includeThoughts`` asks
  for them, and the thought signature rides on the first part after them (the narrative
  text) and on every image part (https://ai.google.dev/gemini-api/docs/thought-signatures).
  Gemini 2.5 Flash Image answers a line of text and a PNG, without signatures.
- Image token counts and prices: https://ai.google.dev/gemini-api/docs/pricing (Gemini 3
  Pro Image: 1120 tokens at 1K and 2K, 2000 at 4K; 2.5 Flash Image: 1290).
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from imagegate.testing.simulator._core import Call, Reply, SimContext, json_reply
from imagegate.testing.simulator._google_errors import GOOGLE_JSON
from imagegate.testing.simulator._media import encoded_b64, gemini_pixels, only_1k, shrunk

__all__ = ["AnswerOptions", "render_answer"]

_THOUGHT: Final = (
    "**Composing the scene**\n\nI'm working out the layout and lighting the request "
    "describes before rendering the final image."
)
_NARRATIVE: Final = "Here is the image you asked for."
_REFUSAL: Final = (
    "I can't create that image. I'm not able to generate images of that kind, but I'm "
    "happy to help with a different idea."
)
_PROHIBITED: Final = (
    "Unable to show the generated image. The image was filtered out because it violated "
    "Google's Generative AI Prohibited Use policy. You will not be charged for blocked "
    "images. Try rephrasing the prompt. If you think this was an error, send feedback."
)
_NO_IMAGE_ANSWERS: Final = {
    # kind -> the candidates an answer without an image has, one per variant; which
    # variant plays is chosen by the attempt's image seed.
    "image_safety": (
        {"finishReason": "IMAGE_SAFETY", "finishMessage": _PROHIBITED},
        {
            "content": {"role": "model"},
            "finishReason": "IMAGE_PROHIBITED_CONTENT",
            "finishMessage": _PROHIBITED,
        },
        {"content": {"role": "model"}, "finishReason": "IMAGE_RECITATION"},
    ),
    "text_refusal": (
        {"content": {"role": "model", "parts": [{"text": _REFUSAL}]}, "finishReason": "STOP"},
        {"finishReason": "NO_IMAGE"},
        {"content": {"role": "model"}, "finishReason": "STOP"},
        {"content": {"role": "model"}, "finishReason": "IMAGE_OTHER"},
    ),
}


@dataclass(frozen=True, slots=True)
class AnswerOptions:
    """What the request asked of the answer's shape.

    Attributes:
        stream: ``streamGenerateContent`` (server-sent events).
        include_thoughts: ``thinkingConfig.includeThoughts``.
        text: ``responseModalities`` lists ``TEXT`` (the default does).
    """

    stream: bool = False
    include_thoughts: bool = False
    text: bool = True


def render_answer(ctx: SimContext, call: Call, options: AnswerOptions) -> Reply:
    """The 200 answer for a call that produced one (an image or a reason for none)."""
    ask = call.ask
    prompt_tokens = max(1, math.ceil(len(ask.prompt) / 4))
    meta = _envelope(ctx, call)
    if call.kind == "prompt_blocked":
        usage = _usage(call, prompt_tokens, candidates=0, thoughts=0)
        blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": usage}
        return _ok([{**blocked, **meta}], options.stream)
    variants = _NO_IMAGE_ANSWERS.get(call.kind)
    if variants is not None:
        candidate = dict(variants[call.planned.image_seed % len(variants)])
        said = "parts" in candidate.get("content", {})
        usage = _usage(call, prompt_tokens, candidates=len(_REFUSAL) // 4 if said else 0)
        payload: dict[str, Any] = {"candidates": [_numbered(call, candidate, 0)]}
        payload["usageMetadata"] = usage
        return _ok([{**payload, **meta}], options.stream)
    return _image_answer(ctx, call, options, prompt_tokens, meta)


def _is_gemini_3(model: str) -> bool:
    """Whether the model is a Gemini 3 image model (thinks, signs, answers JPEG)."""
    return "gemini-3" in model or "nano-banana-pro" in model or "nano-banana-2" in model


def _image_tokens(model: str, size: str) -> int:
    if not _is_gemini_3(model):
        return 1290
    return 2000 if size == "4K" else 1120


def _envelope(ctx: SimContext, call: Call) -> dict[str, Any]:
    """``modelVersion`` and ``responseId`` (Vertex: and ``createTime``)."""
    meta: dict[str, Any] = {"modelVersion": call.ask.model, "responseId": call.token[:22]}
    if call.ask.provider == "vertex":
        when = ctx.world.scenario.start + timedelta(seconds=call.now)
        meta["createTime"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return meta


def _numbered(call: Call, candidate: dict[str, Any], index: int) -> dict[str, Any]:
    """The Gemini API numbers its candidates; Vertex does not."""
    return candidate if call.ask.provider == "vertex" else {**candidate, "index": index}


def _usage(
    call: Call, prompt_tokens: int, *, candidates: int, thoughts: int = 0, image: int = 0
) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": prompt_tokens,
        "totalTokenCount": prompt_tokens + candidates + thoughts,
    }
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt_tokens}]
    if image:
        usage["candidatesTokensDetails"] = [{"modality": "IMAGE", "tokenCount": image}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if call.ask.provider == "vertex":
        usage["trafficType"] = "ON_DEMAND"
    else:
        usage["serviceTier"] = "standard"
    return usage


def _image_answer(
    ctx: SimContext, call: Call, options: AnswerOptions, prompt_tokens: int, meta: dict[str, Any]
) -> Reply:
    ask = call.ask
    width, height = gemini_pixels(ask.model, ask.size, ask.aspect_ratio)
    if call.kind == "size_ignored":
        width, height = shrunk(width, height, ask.size)
    thinking = _is_gemini_3(ask.model)
    thoughts = _thought_parts(width, height, call.planned.image_seed) if thinking else []
    shown = thoughts if options.include_thoughts else []
    candidates = [
        _numbered(call, _candidate(ctx, call, i, width, height, options), i) for i in range(ask.n)
    ]
    image_tokens = _image_tokens(ask.model, ask.size) * ask.n
    text_tokens = 9 * ask.n if options.text else 0
    usage = _usage(
        call, prompt_tokens, candidates=image_tokens + text_tokens,
        thoughts=180 if thinking else 0, image=image_tokens,
    )  # fmt: skip
    final = {"candidates": candidates, "usageMetadata": usage, **meta}
    chunks = [final]
    if options.stream and shown:
        first = {"candidates": [_numbered(call, {"content": {"role": "model", "parts": shown}}, 0)]}
        chunks = [{**first, **meta}, final]
    elif shown:
        for candidate in candidates:
            candidate["content"]["parts"][:0] = shown
    reply = _ok(chunks, options.stream)
    reply.width, reply.height = width, height
    if only_1k(ask.model) and ask.size != "1K":
        reply.outcome = "size_ignored"  # 2.5 Flash Image renders 1K whatever imageSize says
    return reply


def _thought_parts(width: int, height: int, seed: int) -> list[dict[str, Any]]:
    """Gemini 3's thoughts: a text and a draft thumbnail, both marked as thoughts."""
    thumb = encoded_b64("jpeg", max(16, width // 4), max(16, height // 4), seed + 7, "small")
    return [
        {"text": _THOUGHT, "thought": True},
        {"inlineData": {"mimeType": "image/jpeg", "data": thumb}, "thought": True},
    ]


def _candidate(
    ctx: SimContext, call: Call, index: int, width: int, height: int, options: AnswerOptions
) -> dict[str, Any]:
    """One candidate: the narrative line (if text is asked for) and the image; Gemini 3
    signs the first of them and every image, and renders JPEG."""
    thinking = _is_gemini_3(call.ask.model)
    fmt = "jpeg" if thinking else "png"
    data = encoded_b64(fmt, width, height, (call.planned.image_seed + index) % 8, ctx.payload)
    parts: list[dict[str, Any]] = [{"text": _NARRATIVE}] if options.text else []
    parts.append({"inlineData": {"mimeType": f"image/{fmt}", "data": data}})
    if thinking:
        signature = base64.b64encode(f"sim-{call.token}-{index}".encode()).decode()
        parts[0]["thoughtSignature"] = signature
        parts[-1]["thoughtSignature"] = signature
    return {"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}


def _ok(chunks: list[dict[str, Any]], stream: bool) -> Reply:
    if not stream:
        return json_reply(200, chunks[0], content_type=GOOGLE_JSON)
    body = "".join(f"data: {json.dumps(c, separators=(',', ':'))}\r\n\r\n" for c in chunks)
    return Reply(200, body.encode(), "text/event-stream")

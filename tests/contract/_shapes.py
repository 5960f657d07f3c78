"""The shape of each provider's answers as the record shows them: fields, types, enums
and headers, derived from the fixtures (``fixtures/<provider>/*.json``).

`problems` checks one answer and lists every difference from the record (an empty list:
it has the recorded shape). It runs over every fixture and over the simulator's own
answers, so a simulator that drifts from the real APIs fails here first.

What the record shows, by provider:

- **gemini / vertex** (``generateContent``): 200 bodies hold ``candidates`` (parts of
  ``text`` or ``inlineData``, with ``thought``; the final image of ``gemini-3-pro-image``
  carries a ``thoughtSignature``) or ``promptFeedback.blockReason``, always
  ``usageMetadata``, ``modelVersion`` and ``responseId``; Vertex adds ``createTime`` and
  ``usageMetadata.trafficType``. ``gemini-3-pro-image`` answers JPEG,
  ``gemini-2.5-flash-image`` PNG. Errors are Google's envelope ``{"error": {code,
  message, status, details?}}`` as JSON, with no ``Retry-After`` header; an AI Studio 429
  carries ``QuotaFailure`` and ``RetryInfo``.
- **openai** (``images/generations``): ``created`` and ``data``; gpt-image adds
  ``background``, ``output_format``, ``quality`` (never ``auto``), ``size`` and token
  ``usage``. Errors are ``{"error": {message, type, param, code}}`` with ``x-request-id``.
- **openrouter**: chat completions with ``choices[].message.images[]`` data URLs,
  ``native_finish_reason`` and ``usage.cost``; the Image API's ``data[].b64_json`` and
  ``media_type``; errors ``{"error": {code, message, metadata?}}`` (also inside a 200),
  a relayed 429 without ``Retry-After`` (a 503 may carry one).
- **flux**: submit ``{id, polling_url, cost, input_mp, output_mp}``; poll ``{id, status,
  result, progress, details, preview}`` with the six statuses of the spec; errors
  FastAPI's ``{"detail": …}`` (or an empty object).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

__all__ = ["problems"]

Answer = Mapping[str, Any]
"""``{"status": int, "headers": {...}, "body": ...}`` plus context: ``model``, ``stage``
(Flux: ``submit`` or ``poll``), ``partial`` (a trimmed unit-test body: ids not required),
``platform`` (``vertex`` for Vertex AI)."""

# -- enums and tables the record shows ------------------------------------------------

FINISH_REASONS: Final = frozenset(
    {"FINISH_REASON_UNSPECIFIED", "STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "LANGUAGE",
     "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "MALFORMED_FUNCTION_CALL",
     "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_OTHER", "NO_IMAGE", "IMAGE_RECITATION",
     "UNEXPECTED_TOOL_CALL", "TOO_MANY_TOOL_CALLS", "MODEL_ARMOR"}
)  # fmt: skip
"""google-genai's ``FinishReason`` (googleapis/python-genai google/genai/types.py)."""

BLOCK_REASONS: Final = frozenset(
    {"BLOCKED_REASON_UNSPECIFIED", "SAFETY", "OTHER", "BLOCKLIST", "PROHIBITED_CONTENT",
     "IMAGE_SAFETY", "MODEL_ARMOR", "JAILBREAK"}
)  # fmt: skip
"""google-genai's ``BlockedReason``."""

GOOGLE_STATUS: Final[Mapping[int, frozenset[str]]] = {
    400: frozenset({"INVALID_ARGUMENT", "FAILED_PRECONDITION"}),
    401: frozenset({"UNAUTHENTICATED"}),
    403: frozenset({"PERMISSION_DENIED"}),
    404: frozenset({"NOT_FOUND"}),
    429: frozenset({"RESOURCE_EXHAUSTED"}),
    500: frozenset({"INTERNAL"}),
    503: frozenset({"UNAVAILABLE"}),
    504: frozenset({"DEADLINE_EXCEEDED"}),
}
"""google.rpc canonical status names per HTTP status (https://google.aip.dev/193)."""

BFL_STATUSES: Final = frozenset(
    {"Task not found", "Pending", "Request Moderated", "Content Moderated", "Ready", "Error"}
)
"""``StatusResponse`` of the BFL OpenAPI spec v0.0.1."""

_GOOGLE_TOP: Final = frozenset(
    {"candidates", "promptFeedback", "usageMetadata", "modelVersion", "responseId", "createTime"}
)
_OPENAI_TOP: Final = frozenset(
    {"created", "data", "background", "output_format", "quality", "size", "usage"}
)
_BFL_SUBMIT: Final = frozenset({"id", "polling_url", "cost", "input_mp", "output_mp"})
_BFL_POLL: Final = frozenset({"id", "status", "result", "progress", "details", "preview"})
_DURATION: Final = re.compile(r"^\d+(\.\d+)?s$")
_DATA_URL: Final = re.compile(r"^data:(image/(png|jpeg|webp));base64,")
_MAGIC: Final = {"image/png": b"\x89PNG", "image/jpeg": b"\xff\xd8\xff", "image/webp": b"RIFF"}


class _Check:
    """Collects differences, each prefixed with where it was found."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def that(self, ok: bool, what: str) -> bool:
        if not ok:
            self.found.append(what)
        return ok

    def typed(self, value: object, kind: type | tuple[type, ...], where: str) -> bool:
        ok = isinstance(value, kind) and not (isinstance(value, bool) and kind is not bool)
        return self.that(ok, f"{where}: expected {_name(kind)}, got {type(value).__name__}")

    def only(self, body: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
        extra = sorted(set(body) - allowed)
        self.that(not extra, f"{where}: fields the record never shows: {extra}")

    def image(self, b64: object, mime: str, where: str) -> None:
        if not self.typed(b64, str, where):
            return
        try:
            head = base64.b64decode(str(b64)[:64] + "=" * (-len(str(b64)[:64]) % 4))
        except (binascii.Error, ValueError):
            self.that(False, f"{where}: not base64")
            return
        magic = _MAGIC.get(mime, b"")
        self.that(head.startswith(magic), f"{where}: the bytes are not {mime}")


def _name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return "|".join(k.__name__ for k in kinds)


def problems(provider: str, answer: Answer) -> list[str]:
    """Every way ``answer`` differs from the shape the record shows for ``provider``."""
    check = _Check()
    status = answer["status"]
    body = answer["body"]
    if not check.typed(body, dict, "body"):
        return check.found
    _CHECKERS[provider](check, status, body, answer)
    return check.found


# -- Google (AI Studio and Vertex AI) ---------------------------------------------------


def _google(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    if status != 200:
        _google_error(check, status, body, answer)
        return
    check.only(body, _GOOGLE_TOP, "body")
    vertex = answer.get("platform") == "vertex"
    if not answer.get("partial"):
        for field in ("modelVersion", "responseId") + (("createTime",) if vertex else ()):
            check.typed(body.get(field), str, field)
    _usage(check, body.get("usageMetadata"), vertex=vertex)
    candidates = body.get("candidates")
    if candidates is None:
        feedback = body.get("promptFeedback")
        if check.typed(feedback, dict, "promptFeedback (no candidates)"):
            check.that(
                feedback.get("blockReason") in BLOCK_REASONS,
                f"promptFeedback.blockReason {feedback.get('blockReason')!r} not a BlockedReason",
            )
        return
    if check.typed(candidates, list, "candidates"):
        for i, candidate in enumerate(candidates):
            _candidate(check, candidate, f"candidates[{i}]", answer)


def _usage(check: _Check, usage: object, *, vertex: bool) -> None:
    if not check.typed(usage, dict, "usageMetadata"):
        return
    assert isinstance(usage, dict)
    for field in ("promptTokenCount", "totalTokenCount"):
        check.typed(usage.get(field), int, f"usageMetadata.{field}")
    if vertex:
        check.typed(usage.get("trafficType"), str, "usageMetadata.trafficType")
    for field in ("promptTokensDetails", "candidatesTokensDetails"):
        for j, detail in enumerate(usage.get(field) or []):
            where = f"usageMetadata.{field}[{j}]"
            if check.typed(detail, dict, where):
                check.that(detail.get("modality") in ("TEXT", "IMAGE"), f"{where}.modality")
                check.typed(detail.get("tokenCount"), int, f"{where}.tokenCount")


def _candidate(check: _Check, candidate: object, where: str, answer: Answer) -> None:
    if not check.typed(candidate, dict, where):
        return
    assert isinstance(candidate, dict)
    reason = candidate.get("finishReason")
    if reason is not None or not answer.get("partial"):
        check.that(reason in FINISH_REASONS, f"{where}.finishReason {reason!r} not a FinishReason")
    content = candidate.get("content")
    if content is None:
        return
    parts = content.get("parts", []) if check.typed(content, dict, f"{where}.content") else []
    for k, part in enumerate(parts):
        _part(check, part, f"{where}.content.parts[{k}]", answer)


def _part(check: _Check, part: object, where: str, answer: Answer) -> None:
    if not check.typed(part, dict, where):
        return
    assert isinstance(part, dict)
    check.only(part, frozenset({"text", "inlineData", "thought", "thoughtSignature"}), where)
    check.that(("text" in part) != ("inlineData" in part), f"{where}: one of text, inlineData")
    if "thought" in part:
        check.typed(part["thought"], bool, f"{where}.thought")
    blob = part.get("inlineData")
    if blob is None:
        return
    if not check.typed(blob, dict, f"{where}.inlineData"):
        return
    mime = blob.get("mimeType")
    want = _google_image_mime(str(answer.get("model", "")))
    check.that(
        want is None or mime == want,
        f"{where}.inlineData.mimeType {mime!r}; the record shows {want} for this model",
    )
    check.image(blob.get("data"), str(mime), f"{where}.inlineData.data")
    if _pro_image(str(answer.get("model", ""))) and not part.get("thought"):
        check.typed(part.get("thoughtSignature"), str, f"{where}.thoughtSignature")


def _pro_image(model: str) -> bool:
    return model.removeprefix("google/").startswith("gemini-3-pro-image")


def _google_image_mime(model: str) -> str | None:
    """The image format the record shows for the model (None: no record)."""
    if _pro_image(model):
        return "image/jpeg"
    if model.removeprefix("google/").startswith("gemini-2.5-flash-image"):
        return "image/png"
    return None


def _google_error(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    headers = {k.lower(): v for k, v in answer.get("headers", {}).items()}
    check.that(
        headers.get("content-type", "").startswith("application/json"),
        f"content-type {headers.get('content-type')!r} is not JSON",
    )
    check.that("retry-after" not in headers, "a Retry-After header the record never shows")
    check.only(body, frozenset({"error"}), "body")
    error = body.get("error")
    if not check.typed(error, dict, "error"):
        return
    check.that(error.get("code") == status, f"error.code {error.get('code')!r} != HTTP {status}")
    check.typed(error.get("message"), str, "error.message")
    check.that(
        error.get("status") in GOOGLE_STATUS.get(status, frozenset()),
        f"error.status {error.get('status')!r} is not the canonical name of HTTP {status}",
    )
    details = error.get("details", [])
    if check.typed(details, list, "error.details"):
        for i, detail in enumerate(details):
            kind = detail.get("@type", "") if isinstance(detail, dict) else ""
            check.that(
                str(kind).startswith("type.googleapis.com/google.rpc."),
                f"error.details[{i}] has no google.rpc @type",
            )
    if status == 429 and answer.get("platform") != "vertex":
        _ai_studio_429(check, details if isinstance(details, list) else [])


def _ai_studio_429(check: _Check, details: list[Any]) -> None:
    kinds = {str(d.get("@type", "")).rsplit(".", 1)[-1]: d for d in details if isinstance(d, dict)}
    check.that("QuotaFailure" in kinds, "AI Studio 429 without QuotaFailure")
    retry = kinds.get("RetryInfo")
    if check.that(retry is not None, "AI Studio 429 without RetryInfo"):
        assert retry is not None
        check.that(
            _DURATION.match(str(retry.get("retryDelay", ""))) is not None,
            f"RetryInfo.retryDelay {retry.get('retryDelay')!r} is not a proto Duration",
        )


# -- OpenAI Images -----------------------------------------------------------------------


def _openai(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    if status != 200:
        _openai_error(check, body, answer)
        return
    check.only(body, _OPENAI_TOP, "body")
    check.typed(body.get("created"), int, "created")
    data = body.get("data")
    if check.typed(data, list, "data"):
        check.that(bool(data), "data is empty")
    gpt_image = str(answer.get("model", "")).startswith(("gpt-image", "chatgpt-image"))
    fmt = body.get("output_format", "png")
    for i, item in enumerate(data or []):
        if not check.typed(item, dict, f"data[{i}]"):
            continue
        check.only(item, frozenset({"b64_json", "url", "revised_prompt"}), f"data[{i}]")
        check.that("b64_json" in item or "url" in item, f"data[{i}]: no b64_json nor url")
        if "b64_json" in item:
            check.image(item["b64_json"], f"image/{fmt}", f"data[{i}].b64_json")
    if gpt_image:
        _gpt_image_fields(check, body)


def _gpt_image_fields(check: _Check, body: Mapping[str, Any]) -> None:
    check.that(body.get("background") in ("opaque", "transparent"), "background")
    check.that(body.get("output_format") in ("png", "jpeg", "webp"), "output_format")
    check.that(
        body.get("quality") in ("low", "medium", "high"),
        f"quality {body.get('quality')!r}: the record reports the quality used, never auto",
    )
    check.that(re.fullmatch(r"\d+x\d+", str(body.get("size"))) is not None, "size is not WxH")
    usage = body.get("usage")
    if check.typed(usage, dict, "usage"):
        assert isinstance(usage, dict)
        for field in ("input_tokens", "output_tokens", "total_tokens"):
            check.typed(usage.get(field), int, f"usage.{field}")
        details = usage.get("input_tokens_details")
        if check.typed(details, dict, "usage.input_tokens_details"):
            for field in ("image_tokens", "text_tokens"):
                check.typed(details.get(field), int, f"usage.input_tokens_details.{field}")


def _openai_error(check: _Check, body: Mapping[str, Any], answer: Answer) -> None:
    headers = {k.lower() for k in answer.get("headers", {})}
    check.that("x-request-id" in headers, "no x-request-id header")
    error = body.get("error")
    if not check.typed(error, dict, "error"):
        return
    for field in ("message", "type", "param", "code"):
        check.that(field in error, f"error.{field} missing")
    check.typed(error.get("message"), str, "error.message")
    check.typed(error.get("type"), str, "error.type")
    for field in ("param", "code"):
        check.typed(error.get(field), (str, type(None)), f"error.{field}")


# -- OpenRouter --------------------------------------------------------------------------


def _openrouter(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    if status != 200 or "error" in body:
        _openrouter_error(check, status, body, answer)
    elif "choices" in body:
        _openrouter_chat(check, body, answer)
    else:
        check.typed(body.get("created"), int, "created")
        for i, item in enumerate(body.get("data") or []):
            check.image(item.get("b64_json"), str(item.get("media_type")), f"data[{i}].b64_json")
        _cost(check, body.get("usage"))


def _openrouter_chat(check: _Check, body: Mapping[str, Any], answer: Answer) -> None:
    if not answer.get("partial"):
        check.that(str(body.get("id", "")).startswith("gen-"), "id is not a gen-… id")
        check.that(body.get("object") == "chat.completion", "object is not chat.completion")
        check.typed(body.get("created"), int, "created")
        check.typed(body.get("provider"), str, "provider")
    check.typed(body.get("model"), str, "model")
    _cost(check, body.get("usage"))
    choices = body.get("choices")
    if not check.typed(choices, list, "choices"):
        return
    for i, choice in enumerate(choices):
        where = f"choices[{i}]"
        if not check.typed(choice, dict, where):
            continue
        if not answer.get("partial"):
            check.that("native_finish_reason" in choice, f"{where}.native_finish_reason missing")
            check.typed(choice.get("finish_reason"), (str, type(None)), f"{where}.finish_reason")
        message = choice.get("message")
        if check.typed(message, dict, f"{where}.message"):
            _openrouter_images(check, message.get("images") or [], f"{where}.message.images")


def _openrouter_images(check: _Check, images: list[Any], where: str) -> None:
    for j, image in enumerate(images):
        at = f"{where}[{j}]"
        if not check.typed(image, dict, at):
            continue
        check.that(image.get("type") == "image_url", f"{at}.type is not image_url")
        url = (image.get("image_url") or {}).get("url", "")
        found = _DATA_URL.match(str(url))
        if check.that(found is not None, f"{at}.image_url.url is not a base64 image data URL"):
            assert found is not None
            check.image(str(url)[found.end() :], found.group(1), f"{at}.image_url.url")


def _cost(check: _Check, usage: object) -> None:
    if check.typed(usage, dict, "usage"):
        assert isinstance(usage, dict)
        check.typed(usage.get("cost"), (int, float), "usage.cost")


def _openrouter_error(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    headers = {k.lower() for k in answer.get("headers", {})}
    # OpenRouter "may include" Retry-After on a 503 (openrouter.ai/docs/api/errors); the
    # relayed upstream 429s on record carry none.
    if status != 503:
        check.that("retry-after" not in headers, "a Retry-After header the record never shows")
    check.only(body, frozenset({"error", "user_id"}), "body")
    error = body.get("error")
    if not check.typed(error, dict, "error"):
        return
    code = error.get("code")
    check.typed(code, int, "error.code")
    check.that(status == 200 or code == status, f"error.code {code!r} != HTTP {status}")
    check.typed(error.get("message"), str, "error.message")
    if "metadata" in error:
        check.typed(error["metadata"], dict, "error.metadata")


# -- Black Forest Labs -------------------------------------------------------------------


def _flux(check: _Check, status: int, body: Mapping[str, Any], answer: Answer) -> None:
    if not 200 <= status < 300:
        check.only(body, frozenset({"detail"}), "error body")
        detail = body.get("detail", "")
        check.typed(detail, (str, list), "detail")
        return
    if answer.get("stage") == "submit":
        check.only(body, _BFL_SUBMIT, "submit")
        check.typed(body.get("id"), str, "id")
        check.that(str(body.get("polling_url", "")).startswith("http"), "polling_url")
        check.typed(body.get("cost"), (int, float, type(None)), "cost")
        return
    check.only(body, _BFL_POLL, "poll")
    check.typed(body.get("id"), str, "id")
    check.that(body.get("status") in BFL_STATUSES, f"status {body.get('status')!r}")
    if body.get("status") == "Ready":
        result = body.get("result")
        if check.typed(result, dict, "result"):
            assert isinstance(result, dict)
            check.that(str(result.get("sample", "")).startswith("http"), "result.sample")


_CHECKERS: Final[Mapping[str, Callable[[_Check, int, Mapping[str, Any], Answer], None]]] = {
    "gemini": _google,
    "vertex": _google,
    "openai": _openai,
    "openrouter": _openrouter,
    "flux": _flux,
}

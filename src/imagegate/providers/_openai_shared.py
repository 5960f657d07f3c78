"""What the two openai-SDK adapters (`openai` and `openai_compatible`) share: reading a
200 body (images as base64 or data URLs, errors hidden inside it) and mapping the SDK's
exceptions (see `map_openai_error`).

The SDK runs on aiohttp (``DefaultAioHttpClient``), whose httpx shim translates connection
errors into httpx ones but lets a malformed answer (a bad status line, header or chunk
size: ``aiohttp.ClientResponseError``) escape untranslated, past ``openai.OpenAIError``.
The adapters therefore catch `SDK_ERRORS`, and `map_openai_error` classifies both.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, Final, Protocol

import aiohttp
import openai

from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate.errors import DeadlineExceeded, ImageGateError, TransportError, UpstreamError
from imagegate.providers._http_errors import map_status
from imagegate.providers._transport import transport_error

__all__ = [
    "DATA_URL",
    "SDK_ERRORS",
    "decode_image",
    "json_body",
    "map_openai_error",
    "raise_for_body_error",
    "response_metadata",
]


class HttpResponse(Protocol):
    """What is read from the SDK's raw response (an ``httpx`` or ``httpx2`` Response)."""

    @property
    def headers(self) -> Mapping[str, str]:
        """Response headers."""
        ...

    def json(self) -> Any:
        """The body parsed as JSON."""
        ...


SDK_ERRORS: Final = (openai.OpenAIError, aiohttp.ClientError)
"""What a call through the openai SDK can raise: its own errors, and aiohttp's that its
transport does not translate."""

DATA_URL: Final = re.compile(r"^data:([\w/+.-]+)?(?:;[^,]*)?;base64,", re.IGNORECASE)
"""A ``data:image/png;base64,`` URL, as aggregators return images."""


def decode_image(b64: str, mime_type: object, route: str, size: Size) -> GeneratedImage:
    """Decode a base64 image (or a base64 data URL).

    Raises:
        TransportError: not base64, or not an image (billed: the work was done).
    """
    if DATA_URL.match(b64):
        b64 = b64.split(",", 1)[1]
    try:
        data = base64.b64decode(b64, validate=True)
        return GeneratedImage(data, mime_type=mime_type if isinstance(mime_type, str) else None)
    except (binascii.Error, ValueError) as exc:
        raise TransportError(
            f"the returned image is not usable: {exc}", route=route, size=size, billing="billed"
        ) from exc


def json_body(response: HttpResponse, route: str, size: Size) -> dict[str, Any]:
    """The 200 body as a JSON object.

    Raises:
        TransportError: the body is not a JSON object (the work was done, so it may have
            been billed).
    """
    try:
        payload = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = response.headers.get("content-type", "no content type")
        raise TransportError(
            f"HTTP 200 with an unreadable body ({kind})", route=route, size=size,
            status=200, billing="possibly_billed",
        ) from exc  # fmt: skip
    if not isinstance(payload, dict):
        raise TransportError(
            "HTTP 200 with a body that is not a JSON object", route=route, size=size,
            status=200, billing="possibly_billed",
        )  # fmt: skip
    return payload


def response_metadata(payload: Mapping[str, Any], response: HttpResponse) -> dict[str, Any]:
    """What is worth keeping from a 200 answer: request id, usage, revised prompts."""
    metadata: dict[str, Any] = {"request_id": response.headers.get("x-request-id")}
    for key in ("created", "usage", "quality", "size", "output_format"):
        if key in payload:
            metadata[key] = payload[key]
    data = payload.get("data")
    if isinstance(data, list):
        revised = [d.get("revised_prompt") for d in data if isinstance(d, Mapping)]
        if any(revised):
            metadata["revised_prompts"] = revised
    return metadata


def raise_for_body_error(error: object, route: str, size: Size) -> None:
    """Raise the mapped error when an HTTP 200 body carries an ``error`` object.

    Aggregators report failures that happen after generation started this way
    (``{"error": {"code": 504, "message": …}}``); they map like the same HTTP status.
    """
    if not error:
        return
    body: Mapping[str, Any] = error if isinstance(error, Mapping) else {"message": str(error)}
    raw_code = body.get("code")
    status = _http_status(raw_code)
    raise map_status(
        status or 502,
        code="" if status else str(raw_code or "")[:100],
        message=str(body.get("message") or "error inside an HTTP 200 body"),
        body=body,
        headers=None,
        route=route,
        size=size,
    )


def map_openai_error(
    exc: openai.OpenAIError | aiohttp.ClientError, route: str, size: Size
) -> ImageGateError:
    """Turn one of `SDK_ERRORS` into an imagegate error (see the module docstring)."""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, Mapping) else {}
        return map_status(
            exc.status_code,
            code=str(exc.code or body.get("code") or ""),
            message=str(body.get("message") or exc.message),
            body=body,
            headers=exc.response.headers,
            raw_text=exc.body if isinstance(exc.body, str) else None,
            route=route,
            size=size,
        )
    mapped = transport_error(exc, route=route, size=size)
    if mapped is not None:
        return mapped
    if isinstance(exc, openai.APITimeoutError):
        return DeadlineExceeded(
            "timed out waiting for the provider; it may have finished (and billed) the work",
            route=route, size=size, billing="possibly_billed",
        )  # fmt: skip
    if isinstance(exc, openai.APIConnectionError | openai.APIResponseValidationError):
        return TransportError(
            f"{type(exc).__name__}: {exc}", route=route, size=size, billing="possibly_billed"
        )
    return UpstreamError(f"{type(exc).__name__}: {exc}", route=route, size=size)


def _http_status(code: object) -> int | None:
    """``code`` as an HTTP status (an int or a string of three ASCII digits, 100–599)."""
    if isinstance(code, str) and len(code) == 3 and code.isascii() and code.isdigit():
        code = int(code)
    if isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599:
        return code
    return None

"""The google-genai mapping shared by Gemini on AI Studio (`gemini`) and on Vertex AI
(`vertex`): model tables, the request, and how answers and errors become imagegate ones.

Both platforms speak the same ``generateContent`` protocol and raise the same
``google.genai.errors.APIError``; only credentials, endpoints and prices differ, which
`imagegate.providers.gemini` and `imagegate.providers.vertex` supply.

Error mapping (the one place vendor errors become imagegate errors): an ``APIError`` by
`imagegate.providers._google_errors.map_api_error` (its status table is there); the rest
here::

    TimeoutError, aiohttp errors,      TransportError / DeadlineExceeded, billed or not
    non-JSON or truncated body           depending on whether the request was sent
    200 promptFeedback.blockReason     ContentBlocked(stage="prompt")
    200 IMAGE_SAFETY, SAFETY …         ContentBlocked(stage="output"), not retried
    200 STOP / NO_IMAGE / IMAGE_OTHER  NoImageReturned, retried
        without an image part
    200 LANGUAGE, tool-call reasons    NoImageReturned, not retried on this route

Input images (edits, references) go as inline parts, in the caller's order, before the
prompt text, in one user turn: ``types.Part.from_bytes(data=..., mime_type=...)``, which
the API receives as ``{"inlineData": {"mimeType", "data"}}``. No File API upload: a
file would outlive the request and cost a round trip per attempt. A platform's cap on
inline data (``inline_cap_bytes``, the Gemini API's 100 MB of base64 per request) is
checked before sending; over it, the request fails with `InvalidRequestError` (not
retried, another route may take it).

The finish reasons' table is `imagegate.providers._google_reasons`; whether an answer
without an image is billed follows its usageMetadata there (`billing_without_image`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import pydantic
from google.genai import Client, errors, types

from imagegate._logging import get_logger
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate._sanitize import detaching
from imagegate.errors import (
    ContentBlocked,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
    TransportError,
)
from imagegate.providers._gemini_models import (
    EXTENDED_RATIOS,
    KNOWN_MODELS,
    STANDARD_RATIOS,
    GoogleModel,
    google_model,
)
from imagegate.providers._google_errors import map_api_error
from imagegate.providers._google_reasons import billing_without_image, verdict
from imagegate.providers._guard import DEFAULT_MAX_RESPONSE_BYTES, aiohttp_guard
from imagegate.providers._inflight import DEFAULT_INLINE_BYTES_IN_FLIGHT, BytesInFlight
from imagegate.providers._inputs import input_fields
from imagegate.providers._options import positive_int
from imagegate.providers._preflight import real_timeout_s, refuse_unsupported
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error
from imagegate.resilience.clock import Clock, LoopClock, wall_clock

__all__ = [
    "EXTENDED_RATIOS",
    "KNOWN_MODELS",
    "STANDARD_RATIOS",
    "GoogleGenAIProvider",
    "GoogleModel",
    "check_response_cap",
    "google_model",
    "http_options",
]

# -- known models: see imagegate.providers._gemini_models

# -- mapping tables: finish and block reasons in imagegate.providers._google_reasons

_RESPONSE_MODALITIES: Final = ("TEXT", "IMAGE")
_TEXT_SNIPPET: Final = 200


def http_options(
    base_url: str | None,
    api_version: str | None,
    *,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> types.HttpOptions:
    """Client options with the SDK's own retries off, answers capped, redirects refused.

    ``attempts=1`` also removes the SDK's hidden 1–10 s sleep-and-retry on connection
    errors (it only runs when no retry options are set): the router is the only retry loop.
    The SDK passes ``async_client_args`` on to each aiohttp request: the key
    (``x-goog-api-key``) is not sent on by a redirect, and no answer is read past
    ``max_response_bytes`` (see `imagegate.providers._guard`).
    """
    return types.HttpOptions(
        base_url=base_url,
        api_version=api_version,
        retry_options=types.HttpRetryOptions(attempts=1),
        async_client_args={
            "allow_redirects": False,
            "middlewares": (aiohttp_guard(max_bytes=max_response_bytes),),
        },
    )


def check_response_cap(provider: str, value: object) -> int:
    """Validate a ``max_response_bytes`` option (None: the default)."""
    if value is None:
        return DEFAULT_MAX_RESPONSE_BYTES
    return positive_int(provider, "max_response_bytes", value)


# -- the adapter --------------------------------------------------------------------


_UNREADABLE: Final = (
    pydantic.ValidationError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    UserWarning,
)
"""What google-genai raises on an answer whose JSON is not shaped as it expects (a value
outside one of its enums is a `UserWarning`, raised where warnings are errors)."""


class GoogleGenAIProvider:
    """A google-genai ``generateContent`` image adapter; `GeminiProvider` and
    `VertexProvider` configure the client, endpoint and prices.

    Args:
        name: The registry name (``"gemini"`` or ``"vertex"``).
        client: A configured ``google.genai.Client`` (retries off, see `http_options`).
        default_price_usd: Price per image of models not in `KNOWN_MODELS`.
        price_usd: Overrides the price table for every model (negotiated rates).
        description: What to show in ``repr`` besides the name (endpoint, project …).
        inline_cap_bytes: Most inline input data a request may carry, base64-encoded
            (None: the per-image limits of the catalogue only).
        per_image_cap: Whether the catalogue's per-image byte limit applies (Vertex AI
            publishes one for inline images; the Gemini API only a per-request one).
        inline_bytes_in_flight: Input image bytes sent inline at once; calls past it
            wait their turn (`imagegate.providers._inflight`: google-genai holds ~2.7
            copies of each call's inputs while it is in flight).
        clock: The router's clock; a daily quota's reset is counted from its wall time
            (`imagegate.resilience.wall_clock`). None: the real time.
    """

    __slots__ = (
        "_client",
        "_closed",
        "_default_price",
        "_inflight",
        "_inline_cap",
        "_log",
        "_per_image_cap",
        "_price",
        "_wall",
        "_where",
        "name",
    )
    ends_when_cancelled = True  # ends once cancelled: the router calls it in the request's task

    def __init__(
        self,
        name: str,
        *,
        client: Client,
        default_price_usd: float,
        price_usd: Mapping[Size, float] | None = None,
        description: str = "",
        inline_cap_bytes: int | None = None,
        per_image_cap: bool = True,
        inline_bytes_in_flight: int = DEFAULT_INLINE_BYTES_IN_FLIGHT,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        # A daily quota resets at a wall-clock time: read it on the router's clock.
        self._wall = wall_clock(clock or LoopClock())
        self._inflight = BytesInFlight(inline_bytes_in_flight)
        self._inline_cap = inline_cap_bytes
        self._per_image_cap = per_image_cap
        self._client = client
        self._default_price = default_price_usd
        self._price = dict(price_usd) if price_usd is not None else None
        self._where = description
        self._closed = False
        self._log = get_logger(f"imagegate.providers.{name}", provider=name)

    def capabilities(self, model: str) -> Capabilities:
        """Tiers, ratios, list prices and input images of ``model`` (one image per call)."""
        spec = google_model(model, self._default_price)
        prices = self._price if self._price is not None else spec.price_usd
        inputs = input_fields(spec.inputs)
        if not self._per_image_cap:
            inputs["max_input_image_bytes"] = None
        return Capabilities(
            sizes=frozenset(spec.sizes),
            aspect_ratios=spec.aspect_ratios,
            max_n=1,
            price_usd={s: p for s, p in prices.items() if s in spec.sizes},
            supports_seed=True,
            **inputs,
        )

    @detaching
    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """One ``generateContent`` call; every non-thought image part is returned."""
        route, size = f"{self.name}/{request.model}", request.size
        contents, config = self.content_request(request)
        timeout = real_timeout_s(request.timeout_s)
        if timeout:
            # Milliseconds; also sent as X-Server-Timeout so the server can give up too.
            config.http_options = types.HttpOptions(timeout=math.ceil(timeout * 1000))
        self._log.debug(
            "provider.request", route=route, size=size, aspect_ratio=request.aspect_ratio,
            request_id=request.request_id, timeout_s=request.timeout_s,
        )  # fmt: skip
        try:
            async with self._inflight.hold(sum(len(image.data) for image in request.images)):
                response = await self._client.aio.models.generate_content(
                    model=request.model, contents=contents, config=config
                )
        except errors.APIError as exc:
            raise map_api_error(exc, route, size, now=self._wall()) from scrub(exc)
        except Exception as exc:
            mapped = transport_error(exc, route=route, size=size)
            # google-genai converts the answer's JSON by walking it as it expects it to
            # be: a field of another type ends in a TypeError, KeyError … of its own.
            if mapped is None and isinstance(exc, _UNREADABLE):
                mapped = TransportError(
                    f"unreadable response body ({type(exc).__name__})",
                    route=route, size=size, billing="possibly_billed",
                )  # fmt: skip
            if mapped is None:
                raise
            raise mapped from scrub(exc)
        return self._map_response(response, request, route)

    def content_request(
        self, request: ProviderRequest
    ) -> tuple[str | types.Content, types.GenerateContentConfig]:
        """The ``contents`` and config of the ``generateContent`` call for ``request``
        (what `generate` sends, and a Gemini Batch API job carries inline).

        Raises:
            InvalidRequestError: the model cannot serve the request, or its inline
                images exceed the platform's cap.
        """
        route = f"{self.name}/{request.model}"
        refuse_unsupported(self.capabilities(request.model), request, route)
        spec = google_model(request.model, self._default_price)
        config = types.GenerateContentConfig(
            response_modalities=list(_RESPONSE_MODALITIES),
            image_config=types.ImageConfig(
                aspect_ratio=request.aspect_ratio,
                image_size=request.size if spec.sends_image_size else None,
            ),
            seed=request.seed,
        )
        return self._contents(request, route), config

    def read_answer(
        self, response: types.GenerateContentResponse, request: ProviderRequest
    ) -> ProviderResponse:
        """A ``GenerateContentResponse`` for ``request`` as an answer, checked as
        `generate` checks one (a Gemini Batch API item's answer goes through it too).

        Raises:
            ContentBlocked, NoImageReturned, TransportError: as `generate` would.
        """
        return self._map_response(response, request, f"{self.name}/{request.model}")

    @property
    def client(self) -> Client:
        """The configured google-genai client (retries off, answers capped)."""
        return self._client

    async def aclose(self) -> None:
        """Close the SDK's HTTP sessions. Safe to call twice."""
        if not self._closed:
            self._closed = True
            await self._client.aio.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        where = f", {self._where}" if self._where else ""
        return f"{type(self).__name__}({state}{where})"

    # -- private mapping ---------------------------------------------------------------

    def _contents(self, request: ProviderRequest, route: str) -> str | types.Content:
        """The prompt alone, or one user turn: the input images in order, then the text.

        Raises:
            InvalidRequestError: the inline images exceed the platform's cap.
        """
        if not request.images:
            return request.prompt
        inline = sum(4 * -(-len(image.data) // 3) for image in request.images)
        if self._inline_cap is not None and inline > self._inline_cap:
            raise InvalidRequestError(
                f"{route}: {len(request.images)} input images take {inline:,} bytes inline "
                f"(base64), above the platform's {self._inline_cap:,} per request",
                field="images", route=route, size=request.size,
            )  # fmt: skip
        parts = [
            types.Part.from_bytes(data=image.data, mime_type=image.mime_type)
            for image in request.images
        ]
        return types.Content(role="user", parts=[*parts, types.Part.from_text(text=request.prompt)])

    def _map_response(
        self, response: types.GenerateContentResponse, request: ProviderRequest, route: str
    ) -> ProviderResponse:
        size = request.size
        candidates = response.candidates or []
        _refuse_blocked_prompt(response.prompt_feedback, candidates, route, size)
        images, texts, finish = _read_candidates(candidates, route, size)
        text = " ".join(texts).strip()
        if not images:
            # A count of zero is left out of Google's JSON: usage without one counted none.
            usage = response.usage_metadata
            tokens = (usage.candidates_token_count or 0) if usage is not None else None
            raise _no_image(finish, text, candidates, tokens, route, size)
        self._log.debug(
            "provider.response", route=route, size=size, images=len(images),
            width=images[0].width, height=images[0].height, finish_reason=finish,
        )  # fmt: skip
        return ProviderResponse(
            images=tuple(images),
            size_ignored=images[0].size != size,
            metadata=_metadata(response, finish, text),
        )


def _refuse_blocked_prompt(
    feedback: types.GenerateContentResponsePromptFeedback | None,
    candidates: list[types.Candidate],
    route: str,
    size: Size,
) -> None:
    """Raise `ContentBlocked` for a prompt refused before any candidate was made."""
    if candidates or feedback is None or feedback.block_reason is None:
        return
    reason = _enum_name(feedback.block_reason)
    detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
    raise ContentBlocked(
        f"prompt blocked ({reason}){detail}", stage="prompt", reason=reason,
        route=route, size=size, billing="not_billed",
    )  # fmt: skip


def _read_candidates(
    candidates: list[types.Candidate], route: str, size: Size
) -> tuple[list[GeneratedImage], list[str], str | None]:
    """The images and texts of every candidate (thoughts skipped), and the first finish
    reason."""
    images: list[GeneratedImage] = []
    texts: list[str] = []
    finish: str | None = None
    for candidate in candidates:
        finish = finish or _enum_name(candidate.finish_reason)
        for part in _parts(candidate):
            if part.thought:
                continue  # Gemini 3 "thinking" drafts, not the answer
            blob = part.inline_data
            if blob is not None and blob.data:
                images.append(_image(blob.data, blob.mime_type, route, size))
            elif part.text:
                texts.append(part.text)
    return images, texts, finish


def _parts(candidate: types.Candidate) -> list[types.Part]:
    content = candidate.content
    return content.parts if content is not None and content.parts else []


def _metadata(
    response: types.GenerateContentResponse, finish: str | None, text: str
) -> dict[str, Any]:
    """Ids, the finish reason, the start of any text, and the token usage."""
    metadata: dict[str, Any] = {
        "response_id": response.response_id,
        "model_version": response.model_version,
        "finish_reason": finish,
    }
    if text:
        metadata["text"] = text[:_TEXT_SNIPPET]
    usage = response.usage_metadata
    if usage is not None:
        metadata["usage"] = usage.model_dump(exclude_none=True, mode="json")
    return metadata


def _enum_name(value: object) -> str | None:
    if value is None:
        return None
    return str(getattr(value, "value", value)).upper()


def _image(data: bytes, mime_type: str | None, route: str, size: Size) -> GeneratedImage:
    try:
        return GeneratedImage(data, mime_type=mime_type)
    except ValueError as exc:
        raise TransportError(
            f"the image part is not a usable image: {exc}", route=route, size=size, billing="billed"
        ) from exc


def _no_image(
    finish: str | None,
    text: str,
    candidates: list[types.Candidate],
    tokens: int | None,
    route: str,
    size: Size,
) -> ImageGateError:
    """A block (ContentBlocked) or an answer without an image (NoImageReturned), by the
    finish reason's `verdict`, billed as `billing_without_image` decides."""
    reason = finish or ("NO_CANDIDATES" if not candidates else "UNSPECIFIED")
    message = next((c.finish_message for c in candidates if c.finish_message), None)
    said = f": {text[:_TEXT_SNIPPET]!r}" if text else (f": {message}" if message else "")
    meaning = verdict(finish)
    if meaning == "blocked":
        return ContentBlocked(
            f"generated image withheld by the safety filter ({reason}){said}",
            stage="output", reason=reason, route=route, size=size,
            billing=billing_without_image(tokens, message, default="not_billed"),
        )  # fmt: skip
    return NoImageReturned(
        f"answered without an image (finish reason {reason}){said}", route=route, size=size,
        retryable=meaning == "no_image",
        billing=billing_without_image(tokens, message, default="billed"),
    )  # fmt: skip

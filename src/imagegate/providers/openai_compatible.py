"""`openai_compatible`: any OpenAI-compatible aggregator (OpenRouter, Vercel AI Gateway, a
company proxy) on ``AsyncOpenAI``, for any model name it routes (``nano-banana-pro``,
``google/gemini-3-pro-image``, ``black-forest-labs/flux.2-pro`` …).

Two modes (route option ``mode``):

- ``"chat"`` (default): ``POST {base_url}/chat/completions`` with ``modalities`` and
  ``image_config {aspect_ratio, image_size}``; images come back as data URLs in
  ``choices[].message.images[]`` and the call's price in ``usage.cost``.
- ``"images"``: ``POST {base_url}/images``, OpenRouter's image API (documented at
  https://openrouter.ai/docs/api/api-reference/images/generate-an-image; the OpenAPI spec
  in github.com/OpenRouterTeam/typescript-sdk, ``.speakeasy/in.openapi.yaml``, path
  ``/images``): ``{model, prompt, resolution, aspect_ratio}`` (an explicit ``size: "WxH"``
  when the ratio is not one of the documented ones), answered with ``data[].b64_json``,
  ``data[].media_type`` and ``usage.cost``. OpenRouter documents no
  ``/images/generations``; a 404 from ``/images`` means the endpoint is not there (wrong
  ``base_url`` or ``mode``) and is reported as such.

Input images (edits, references) go in chat mode only, as OpenRouter documents them
(https://openrouter.ai/docs/guides/overview/multimodal/images, "send the text prompt
first, then the images"): the user message's content is a text part followed by one
``{"type": "image_url", "image_url": {"url": "data:<type>;base64,…"}}`` part per image,
in order. Gemini models take what the catalogue says their model takes; other models, and
``images`` mode (its documented body has no input image), take none.

Aggregators report errors that happen after generation started inside an HTTP 200 body
(``{"error": {"code": 504, "message": …}}``, or on a choice); those are mapped like the
same HTTP status would be. A chat answer without an image is read by its
``native_finish_reason`` (OpenRouter forwards Gemini's, e.g. ``IMAGE_RECITATION``, while
its own ``finish_reason`` says ``"stop"``) through the table gemini and vertex use
(`imagegate.providers._google_reasons`): a block is ``ContentBlocked`` and not retried,
whatever the normalised reason says; ``content_filter`` is a block too.

Credentials: ``api_key=``, else the route's ``api_key_env``, else
``OPENAI_COMPATIBLE_API_KEY``. Endpoint: ``base_url``, else ``OPENAI_COMPATIBLE_BASE_URL``.
Other options: ``modalities`` (chat mode; ``["image"]`` for image-only models),
``price_usd``, ``max_download_bytes``, ``max_response_bytes`` (cap on an answer, after
decompression, 64 MiB by default), ``download_allow`` (hosts or networks image URLs may
also come from; by default only https to public addresses or the API's own origin).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import openai
from pydantic import SecretStr

from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, Size, pixels_for
from imagegate._result import GeneratedImage
from imagegate._sanitize import detaching
from imagegate.errors import (
    ConfigurationError,
    ContentBlocked,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
)
from imagegate.providers._catalogue import active_catalogue
from imagegate.providers._download import DEFAULT_MAX_DOWNLOAD_BYTES
from imagegate.providers._gemini_models import google_model
from imagegate.providers._google_reasons import billing_without_image, output_tokens, verdict
from imagegate.providers._guard import DEFAULT_MAX_RESPONSE_BYTES
from imagegate.providers._httpx import sdk_httpx
from imagegate.providers._inputs import data_url, input_fields
from imagegate.providers._openai_shared import (
    SDK_ERRORS,
    json_body,
    map_openai_error,
    raise_for_body_error,
    response_metadata,
)
from imagegate.providers._options import check_options
from imagegate.providers._preflight import real_timeout_s, refuse_unsupported
from imagegate.providers._prices import parse_price_option, reported_cost_usd
from imagegate.providers._registry import ProviderConfig
from imagegate.providers._scrub import scrub
from imagegate.providers.openai import OpenAIProvider

if TYPE_CHECKING:
    from openai._types import RequestOptions  # the SDK's per-call options (a TypedDict)
    from openai.types.chat import ChatCompletionContentPartParam, ChatCompletionUserMessageParam

__all__ = ["BASE_URL_ENV_VAR", "DEFAULT_PRICE_USD", "ENV_VAR", "OpenAICompatibleProvider"]

ENV_VAR: Final = "OPENAI_COMPATIBLE_API_KEY"
BASE_URL_ENV_VAR: Final = "OPENAI_COMPATIBLE_BASE_URL"
DEFAULT_PRICE_USD: Final = 0.06
"""Per-image price assumed when the model is unknown and the answer has no
``usage.cost`` (as for an aggregator forwarding a Gemini image model)."""

# -- known models: the catalogue's Gemini entries, by id or alias (nano-banana-pro …);
# see imagegate.providers._catalogue

# -- mapping tables -----------------------------------------------------------------

Mode = Literal["chat", "images"]
_MODES: Final = ("chat", "images")
_DEFAULT_MODALITIES: Final = ("image", "text")
_FILTERED: Final = "content_filter"
"""OpenAI's own finish reason for output withheld by a filter; Google's reasons, which
aggregators forward as ``native_finish_reason``, are read with
`imagegate.providers._google_reasons.verdict`."""
# The ratios OpenRouter's image API takes by name (ImageGenerationRequest.aspect_ratio).
_IMAGES_RATIOS: Final = frozenset((
    "1:1", "1:2", "1:4", "1:8", "2:1", "2:3", "3:2", "3:4", "4:1", "4:3", "4:5", "5:4", "8:1",
    "9:16", "16:9", "9:21", "21:9",
))  # fmt: skip
_OPTIONS: Final = (
    "mode", "modalities", "price_usd", "max_download_bytes", "max_response_bytes",
    "download_allow",
)  # fmt: skip


class OpenAICompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible aggregator.

    Args:
        base_url: The aggregator's API root (``https://openrouter.ai/api/v1``); else
            ``OPENAI_COMPATIBLE_BASE_URL``.
        api_key: The key; else ``api_key_env``, else ``OPENAI_COMPATIBLE_API_KEY``.
        mode: ``"chat"`` (chat completions with image output) or ``"images"``.
        modalities: Chat mode output modalities (``["image", "text"]`` by default).
        price_usd: One price for every tier, or a tier → price mapping, used when the
            answer carries no ``usage.cost``.
        max_download_bytes: Cap for images delivered as a URL.
        max_response_bytes: Largest API answer read, after decompression (64 MiB).
        download_allow: Host names, addresses or CIDRs an image URL may come from besides
            public https hosts and the API's own origin (plain http included).

    Raises:
        ConfigurationError: no key or no base URL (naming the env var), or a bad option.
    """

    __slots__ = ("_modalities", "_mode", "_price_override")

    def __init__(
        self,
        *,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        mode: Mode = "chat",
        modalities: Sequence[str] = _DEFAULT_MODALITIES,
        price_usd: float | Mapping[Size, float] | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        download_allow: Sequence[str] = (),
    ) -> None:
        name = "openai_compatible"
        base_url = base_url or os.environ.get(BASE_URL_ENV_VAR)
        if not base_url:
            raise ConfigurationError(
                f"{name}: no endpoint: pass base_url= (the aggregator's API root) "
                f"or set {BASE_URL_ENV_VAR}",
                env_var=BASE_URL_ENV_VAR,
            )
        if mode not in _MODES:
            raise ConfigurationError(f"{name}: mode must be 'chat' or 'images', got {mode!r}")
        if (
            isinstance(modalities, str)
            or not modalities
            or not all(m in ("image", "text") for m in modalities)
            or "image" not in modalities
        ):
            raise ConfigurationError(
                f"{name}: modalities must list 'image' (and optionally 'text'), got {modalities!r}"
            )
        super().__init__(
            api_key=api_key,
            api_key_env=api_key_env,
            base_url=base_url,
            max_download_bytes=max_download_bytes,
            max_response_bytes=max_response_bytes,
            download_allow=download_allow,
            name=name,
            env_vars=(ENV_VAR,),
        )
        self._mode: Mode = mode
        self._modalities = list(modalities)
        self._price_override = parse_price_option(price_usd, provider=name)
        if mode == "chat":
            # Like ``images`` in the base class: the SDK's lazy import of ``chat`` (~0.7 s
            # of CPU) happens at set-up, not inside the first request.
            _ = self._client.chat

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAICompatibleProvider:
        """Build from a route's `ProviderConfig` (the registry's factory)."""
        check_options("openai_compatible", config.options, _OPTIONS)
        options = config.options
        return cls(
            base_url=config.base_url,
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            mode=options.get("mode", "chat"),
            modalities=options.get("modalities", _DEFAULT_MODALITIES),
            price_usd=options.get("price_usd"),
            max_download_bytes=options.get("max_download_bytes", DEFAULT_MAX_DOWNLOAD_BYTES),
            max_response_bytes=options.get("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
            download_allow=options.get("download_allow", ()),
        )

    def capabilities(self, model: str) -> Capabilities:
        """Gemini models (by catalogue id or alias) keep their tiers, ratios and list
        prices; any other model is assumed to take every tier and ratio at
        `DEFAULT_PRICE_USD`."""
        known = active_catalogue().get(model, "google") is not None
        gemini = known or "gemini" in model.rsplit("/", 1)[-1]
        if gemini:
            spec = google_model(model, DEFAULT_PRICE_USD)
            sizes, ratios, prices = frozenset(spec.sizes), spec.aspect_ratios, spec.price_usd
        else:
            sizes, ratios, prices = frozenset(SIZES), None, dict.fromkeys(SIZES, DEFAULT_PRICE_USD)
        if self._price_override is not None:
            prices = self._price_override
        chat_gemini = gemini and self._mode == "chat"
        return Capabilities(
            sizes=sizes,
            aspect_ratios=ratios,
            max_n=1 if self._mode == "chat" or gemini else 10,
            price_usd={s: p for s, p in prices.items() if s in sizes},
            supports_seed=True,
            **input_fields(google_model(model, DEFAULT_PRICE_USD).inputs if chat_gemini else None),
        )

    @detaching
    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """One chat completion with image output, or one images call (``mode``)."""
        route, size = f"{self.name}/{request.model}", request.size
        refuse_unsupported(self.capabilities(request.model), request, route)
        timeout = real_timeout_s(request.timeout_s) or openai.NOT_GIVEN
        self._log.debug(
            "provider.request", route=route, size=size, aspect_ratio=request.aspect_ratio,
            mode=self._mode, request_id=request.request_id, timeout_s=request.timeout_s,
        )  # fmt: skip
        try:
            if self._mode == "chat":
                extra: dict[str, Any] = {
                    "modalities": self._modalities,
                    "image_config": {"aspect_ratio": request.aspect_ratio, "image_size": size},
                }
                if request.seed is not None:
                    extra["seed"] = request.seed
                chat = await self._client.chat.completions.with_raw_response.create(
                    model=request.model,
                    messages=[_user_message(request)],
                    extra_body=extra,
                    timeout=timeout,
                )
                http = chat.http_response
            else:
                http = await self._client.post(
                    "/images",
                    cast_to=sdk_httpx().Response,
                    body=_images_body(request),
                    options=_timeout_option(request.timeout_s),
                )
        except SDK_ERRORS as exc:
            if isinstance(exc, openai.NotFoundError) and self._mode == "images":
                raise self._no_images_endpoint(exc, request.model, route, size) from scrub(exc)
            raise map_openai_error(exc, route, size) from scrub(exc)
        payload = json_body(http, route, size)
        raise_for_body_error(payload.get("error"), route, size)
        if self._mode == "chat":
            images = await self._chat_images(payload, request.timeout_s, route, size)
        else:
            images = await self._images(payload.get("data"), request.timeout_s, route, size)
        usage = payload.get("usage")
        cost = usage.get("cost") if isinstance(usage, Mapping) else None
        metadata = response_metadata(payload, http)
        for key in ("id", "model", "provider"):
            if key in payload:
                metadata[key] = payload[key]
        return ProviderResponse(
            images=images,
            cost_usd=reported_cost_usd(cost),
            size_ignored=images[0].size != size,
            metadata=metadata,
        )

    # -- private mapping ---------------------------------------------------------------

    def _no_images_endpoint(
        self, exc: openai.NotFoundError, model: str, route: str, size: Size
    ) -> ImageGateError:
        """A 404 from ``POST /images``: the model when the answer names it, else the
        endpoint itself is not there."""
        mapped = map_openai_error(exc, route, size)
        if model and model in str(mapped):
            return mapped
        return InvalidRequestError(
            f"POST {self._client.base_url}images answered 404: the image endpoint is not "
            "there. Check base_url (the aggregator's API root, e.g. "
            "https://openrouter.ai/api/v1) and mode ('images' calls POST /images, 'chat' "
            "calls POST /chat/completions)",
            field="base_url", route=route, size=size, status=404,
        )  # fmt: skip

    async def _chat_images(
        self, payload: Mapping[str, Any], timeout_s: float | None, route: str, size: Size
    ) -> tuple[GeneratedImage, ...]:
        """Images from ``choices[].message.images[]`` (or image content parts)."""
        urls, texts, finish = _read_choices(payload.get("choices"), route, size)
        if not urls:
            native = payload.get("native_finish_reason")  # some answers carry it here
            if isinstance(native, str) and finish in (None, "stop"):
                finish = native
            raise _no_image(finish, texts, _output_tokens(payload.get("usage")), route, size)
        return tuple([await self._fetch(url, timeout_s, route, size) for url in urls])


def _user_message(request: ProviderRequest) -> ChatCompletionUserMessageParam:
    """The prompt alone, or a text part followed by one data-URL part per input image."""
    if not request.images:
        return {"role": "user", "content": request.prompt}
    parts: list[ChatCompletionContentPartParam] = [{"type": "text", "text": request.prompt}]
    parts += [{"type": "image_url", "image_url": {"url": data_url(i)}} for i in request.images]
    return {"role": "user", "content": parts}


def _images_body(request: ProviderRequest) -> dict[str, Any]:
    """The JSON body of ``POST /images``: tier and named ratio, else explicit pixels."""
    body: dict[str, Any] = {"model": request.model, "prompt": request.prompt}
    if request.aspect_ratio in _IMAGES_RATIOS:
        body["resolution"] = request.size
        body["aspect_ratio"] = request.aspect_ratio
    else:
        width, height = pixels_for(request.size, request.aspect_ratio, multiple=16)
        body["size"] = f"{width}x{height}"
    if request.n > 1:
        body["n"] = request.n
    if request.seed is not None:
        body["seed"] = request.seed
    return body


def _timeout_option(timeout_s: float | None) -> RequestOptions:
    """The SDK's per-call ``timeout`` option, or none (the client's default)."""
    real = real_timeout_s(timeout_s)
    return {} if real is None else {"timeout": real}


def _read_choices(
    choices: object, route: str, size: Size
) -> tuple[list[str], list[str], str | None]:
    """Every choice's image URLs and texts, and the first finish reason; an error inside
    a choice is raised."""
    urls: list[str] = []
    texts: list[str] = []
    finish: str | None = None
    for choice in choices if isinstance(choices, list) else []:
        if not isinstance(choice, Mapping):
            continue
        raise_for_body_error(choice.get("error"), route, size)
        finish = finish or _finish_reason(choice)
        message = choice.get("message")
        if isinstance(message, Mapping):
            urls.extend(_message_urls(message))
            texts.extend(_message_texts(message))
    return urls, texts, finish


def _message_urls(message: Mapping[str, Any]) -> list[str]:
    urls = _image_urls(message.get("images"))
    content = message.get("content")
    if isinstance(content, list):  # content parts instead of message.images
        urls.extend(_image_urls(content))
    return urls


def _message_texts(message: Mapping[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, list):
        content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return [
        t.strip() for t in (content, message.get("refusal")) if isinstance(t, str) and t.strip()
    ]


def _no_image(
    finish: str | None, texts: list[str], tokens: int | None, route: str, size: Size
) -> ImageGateError:
    """A block (by the finish reason's `verdict`, or ``content_filter``), else an answer
    without an image; billed as `billing_without_image` decides."""
    said = f": {' '.join(texts)[:200]!r}" if texts else ""
    meaning = "blocked" if finish == _FILTERED else verdict(finish)
    words = " ".join(texts)
    if meaning == "blocked":
        return ContentBlocked(
            f"image withheld by a safety filter ({finish}){said}", stage="output",
            reason=finish, route=route, size=size,
            billing=billing_without_image(tokens, words, default="not_billed"),
        )  # fmt: skip
    return NoImageReturned(
        f"answered without an image (finish reason {finish}){said}", route=route, size=size,
        retryable=meaning == "no_image",
        billing=billing_without_image(tokens, words, default="billed"),
    )  # fmt: skip


def _finish_reason(choice: Mapping[str, Any]) -> str | None:
    """The upstream's own reason (``native_finish_reason``, upper-cased) when there is
    one, else the aggregator's ``finish_reason``."""
    native = choice.get("native_finish_reason")
    if isinstance(native, str) and native.strip():
        return native.strip().upper()[:64]
    reason = choice.get("finish_reason")
    return reason if isinstance(reason, str) else None


def _output_tokens(usage: object) -> int | None:
    """Output tokens of an OpenAI-style ``usage``, thinking not counted:
    ``completion_tokens`` less ``completion_tokens_details.reasoning_tokens``."""
    if not isinstance(usage, Mapping):
        return None
    total = output_tokens(usage, "completion_tokens")
    details = usage.get("completion_tokens_details")
    thinking = output_tokens(details, "reasoning_tokens") if isinstance(details, Mapping) else 0
    return None if total is None else max(0, total - (thinking or 0))


def _image_urls(parts: object) -> list[str]:
    urls: list[str] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, Mapping):
            continue
        image_url = part.get("image_url")
        url = image_url.get("url") if isinstance(image_url, Mapping) else image_url
        if isinstance(url, str) and url:
            urls.append(url)
    return urls

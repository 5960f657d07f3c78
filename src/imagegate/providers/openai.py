"""`openai`: OpenAI Images (the gpt-image family, and dall-e legacy) on ``AsyncOpenAI``.

A request with input images is an edit: ``POST /v1/images/edits`` (``images.edit``), a
multipart form with one ``image`` file (several as ``image[]``, in order), the ``mask``
file applied to the first one, the prompt and the size. Files are sent as (name, bytes,
type) so the API sees each image's real type.

The client runs on the SDK's aiohttp transport (``openai.DefaultAioHttpClient()``, 2–3×
faster than the default one), is reused for every call, and never retries
(``max_retries=0``): the router is the only retry loop. It reads no answer past
``max_response_bytes`` (after decompression) and follows no redirect
(`imagegate.providers._guard`).

Credentials: ``api_key=`` or ``OPENAI_API_KEY``. Route options: ``quality``,
``output_format``, ``background``, ``moderation``, ``style`` and ``response_format``
(dall-e), ``organization``, ``project``, ``price_usd``, ``max_download_bytes``,
``max_response_bytes``, ``download_allow`` (hosts or networks ``url`` images may also
come from, over http too; by default only https to public addresses or the API's own
origin).

Error mapping (`imagegate.providers._openai_shared.map_openai_error`, shared with
``openai_compatible``)::

    429 rate_limit_exceeded           RateLimited      retry_after_s from retry-after-ms /
                                                       retry-after / "try again in 1m2.5s" /
                                                       "try again after 51.84 seconds"
    429 insufficient_quota, 402,      QuotaExhausted   credits or billing cap; not retried
        billing_hard_limit_reached
    content_policy_violation,         ContentBlocked   stage from moderation_details
        moderation_blocked
    401, 403                          AuthenticationError
    404                               InvalidRequestError(field="model")
    other 4xx                         InvalidRequestError(field=param)
    503                               Overloaded
    408, 504                          DeadlineExceeded (server gave up; not billed)
    5xx with an HTML page             TransportError (a proxy, not the API)
    other 5xx                         UpstreamError
    APITimeoutError                   DeadlineExceeded, possibly billed
    APIConnectionError                TransportError, billed or not by how far it got
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import aiohttp
import openai
from pydantic import SecretStr

from imagegate._logging import get_logger
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._redact import register_secret
from imagegate._request import Size, parse_aspect_ratio, pixels_for
from imagegate._result import GeneratedImage
from imagegate._sanitize import detaching
from imagegate.errors import (
    ConfigurationError,
    InvalidRequestError,
    NoImageReturned,
)
from imagegate.providers._download import DEFAULT_MAX_DOWNLOAD_BYTES, download_image
from imagegate.providers._guard import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DownloadPolicy,
    capped_openai_client,
)
from imagegate.providers._inputs import input_fields
from imagegate.providers._openai_models import (
    KNOWN_MODELS,
    OpenAIModel,
    answer_cost,
    list_cost,
    openai_model,
)
from imagegate.providers._openai_shared import (
    DATA_URL,
    SDK_ERRORS,
    decode_image,
    json_body,
    map_openai_error,
    raise_for_body_error,
    response_metadata,
)
from imagegate.providers._options import check_options, positive_int
from imagegate.providers._preflight import real_timeout_s, refuse_unsupported
from imagegate.providers._prices import parse_price_option
from imagegate.providers._registry import ProviderConfig
from imagegate.providers._scrub import scrub

__all__ = [
    "ENV_VAR",
    "FLEX_RATIOS",
    "KNOWN_MODELS",
    "OpenAIModel",
    "OpenAIProvider",
    "openai_model",
]

ENV_VAR: Final = "OPENAI_API_KEY"

# -- known models -------------------------------------------------------------------

FLEX_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "9:21",
     "1:2", "2:1", "1:3", "3:1"}
)  # fmt: skip
"""Ratios offered by gpt-image-2 and later (any ``WxH`` between 1:3 and 3:1)."""

# The models, their qualities and prices: the catalogue (imagegate.providers._openai_models).

_FLEX_MULTIPLE: Final = 16
_FLEX_MAX_SIDE: Final = 3840
_FLEX_MAX_PIXELS: Final = 8_294_400
_QUALITIES: Final = frozenset().union(*(m.qualities for m in KNOWN_MODELS.values())) | {
    "xhigh",
    "max",
}
_CHOICES: Final[Mapping[str, frozenset[str]]] = {
    "output_format": frozenset({"png", "jpeg", "webp"}),
    "background": frozenset({"transparent", "opaque", "auto"}),
    "moderation": frozenset({"low", "auto"}),
    "style": frozenset({"vivid", "natural"}),
    "response_format": frozenset({"b64_json", "url"}),
    "quality": _QUALITIES,
}
_OPTIONS: Final = (
    *_CHOICES, "organization", "project", "price_usd", "max_download_bytes", "max_response_bytes",
    "download_allow",
)  # fmt: skip


# -- the adapter --------------------------------------------------------------------


class OpenAIProvider:
    """OpenAI Images, ``POST /v1/images/generations``.

    Args:
        api_key: The key; else ``OPENAI_API_KEY`` (or ``api_key_env``).
        base_url: Another endpoint (Azure-style proxy, the simulator).
        quality: ``low|medium|high|auto`` (gpt-image) or ``standard|hd`` (dall-e-3).
        output_format, background, moderation: gpt-image options, passed through.
        style, response_format: dall-e options (``b64_json`` unless ``url`` is asked for;
            URL images are then downloaded).
        organization, project: OpenAI account headers.
        price_usd: One price for every tier, or a tier → price mapping.
        max_download_bytes: Cap for images delivered as a ``url``.
        max_response_bytes: Largest API answer read, after decompression (64 MiB).
        download_allow: Host names, addresses or CIDRs a ``url`` image may come from
            besides public https hosts and the API's own origin (plain http included).

    Raises:
        ConfigurationError: no key (names ``OPENAI_API_KEY``), or a bad option.
    """

    __slots__ = (
        "_base_url",
        "_client",
        "_closed",
        "_download_policy",
        "_log",
        "_max_download",
        "_params",
        "_price",
        "_session",
        "name",
    )
    ends_when_cancelled = True  # ends once cancelled: the router calls it in the request's task

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        price_usd: float | Mapping[Size, float] | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        download_allow: Sequence[str] = (),
        organization: str | None = None,
        project: str | None = None,
        name: str = "openai",
        env_vars: tuple[str, ...] = (ENV_VAR,),
        **params: str,
    ) -> None:
        self.name = name
        for option, value in params.items():
            if option not in _CHOICES or value not in _CHOICES[option]:
                choices = sorted(_CHOICES.get(option, ()))
                raise ConfigurationError(f"{name}: {option}={value!r}; expected one of {choices}")
        positive_int(name, "max_download_bytes", max_download_bytes)
        positive_int(name, "max_response_bytes", max_response_bytes)
        self._price = parse_price_option(price_usd, provider=name)
        secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
        key = ProviderConfig(api_key=secret, api_key_env=api_key_env).resolve_key(
            *env_vars, provider=name
        )
        register_secret(key)
        self._params = dict(params)
        self._download_policy = DownloadPolicy.build(
            name, base_url=base_url, download_allow=download_allow
        )
        self._max_download = max_download_bytes
        self._base_url = base_url
        self._client = openai.AsyncOpenAI(
            api_key=key.get_secret_value(),
            base_url=base_url,
            organization=organization,
            project=project,
            max_retries=0,  # the router is the only retry loop
            http_client=capped_openai_client(max_bytes=max_response_bytes),
        )
        # The SDK imports its resource modules on first access: do it here, at set-up,
        # not inside the first request's event loop tick where it would stall every other
        # request in flight.
        _ = self._client.images
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._log = get_logger(f"imagegate.providers.{name}", provider=name)

    @classmethod
    def from_config(cls, config: ProviderConfig) -> OpenAIProvider:
        """Build from a route's `ProviderConfig` (the registry's factory)."""
        check_options("openai", config.options, _OPTIONS)
        options = dict(config.options)
        return cls(
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            base_url=config.base_url,
            price_usd=options.pop("price_usd", None),
            max_download_bytes=options.pop("max_download_bytes", DEFAULT_MAX_DOWNLOAD_BYTES),
            max_response_bytes=options.pop("max_response_bytes", DEFAULT_MAX_RESPONSE_BYTES),
            download_allow=options.pop("download_allow", ()),
            organization=options.pop("organization", None),
            project=options.pop("project", None),
            **options,
        )

    def capabilities(self, model: str) -> Capabilities:
        """Tiers, ratios, ``n``, list prices (at the configured quality) and edit inputs
        of ``model``.

        Fixed-size models take any ratio and deliver the closest of their shapes.
        """
        spec = openai_model(model)
        quality = self._params.get("quality", spec.default_quality)
        per_mp = spec.price_usd.get(quality, max(spec.price_usd.values(), default=0.0))
        prices: dict[Size, float] = {"1K": per_mp}
        if "2K" in spec.sizes:
            prices["2K"] = round(per_mp * 4, 4)  # billed by output tokens, ~ pixels
        if self._price is not None:
            prices = {s: p for s, p in self._price.items() if s in spec.sizes}
        return Capabilities(
            sizes=spec.sizes,
            aspect_ratios=None if spec.fixed_sizes else FLEX_RATIOS,
            max_n=spec.max_n,
            price_usd=prices,
            **input_fields(spec.inputs),
        )

    @detaching
    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """One ``images.generate`` call; ``b64_json`` images decoded, ``url`` ones fetched."""
        route, size = f"{self.name}/{request.model}", request.size
        spec = openai_model(request.model)
        refuse_unsupported(self.capabilities(request.model), request, route)
        quality = self._params.get("quality")
        _refuse_quality(spec, quality, route, size)
        width, height = _pixel_size(spec, size, request.aspect_ratio)
        body = self._extra_body(spec)
        self._log.debug(
            "provider.request", route=route, size=size, pixels=f"{width}x{height}",
            n=request.n, request_id=request.request_id, timeout_s=request.timeout_s,
        )  # fmt: skip
        try:
            raw = await self._call(request, f"{width}x{height}", body)
        except SDK_ERRORS as exc:
            raise map_openai_error(exc, route, size) from scrub(exc)
        payload = json_body(raw.http_response, route, size)
        raise_for_body_error(payload.get("error"), route, size)
        images = await self._images(payload.get("data"), request.timeout_s, route, size)
        estimate = list_cost(spec, quality, width, height) * len(images)
        return ProviderResponse(
            images=images,
            cost_usd=None
            if self._price
            else answer_cost(spec, payload, images=len(images), estimate_usd=estimate),
            size_ignored=images[0].size != size,
            metadata=response_metadata(payload, raw.http_response),
        )

    async def aclose(self) -> None:
        """Close the SDK client and the download session. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        await self._client.close()
        if self._session is not None:
            await self._session.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        where = f", base_url={self._base_url!r}" if self._base_url else ""
        return f"{type(self).__name__}({state}{where})"

    # -- private mapping ---------------------------------------------------------------

    async def _call(
        self, request: ProviderRequest, size: str, body: dict[str, str]
    ) -> openai._legacy_response.LegacyAPIResponse[openai.types.ImagesResponse]:
        """``images.generate``, or ``images.edit`` when the request carries input images."""
        timeout = real_timeout_s(request.timeout_s) or openai.NOT_GIVEN
        images = self._client.images.with_raw_response
        if not request.images:
            return await images.generate(
                model=request.model, prompt=request.prompt, n=request.n, size=size,
                extra_body=body, timeout=timeout,
            )  # fmt: skip
        files = [_file(f"image_{i}", image) for i, image in enumerate(request.images, 1)]
        mask = _file("mask", request.mask) if request.mask is not None else openai.omit
        return await images.edit(
            model=request.model, prompt=request.prompt, n=request.n, size=size,
            image=files[0] if len(files) == 1 else files, mask=mask,
            extra_body={k: v for k, v in body.items() if k not in _GENERATE_ONLY},
            timeout=timeout,
        )  # fmt: skip

    def _extra_body(self, spec: OpenAIModel) -> dict[str, str]:
        """The route's options the model takes: dall-e gets ``quality``, ``style`` and a
        ``response_format`` (``b64_json`` unless ``url`` is asked for), gpt-image the rest."""
        if not spec.b64_param:
            return {k: v for k, v in self._params.items() if k not in ("style", "response_format")}
        body = {k: v for k, v in self._params.items() if k in ("quality", "style")}
        body["response_format"] = self._params.get("response_format", "b64_json")
        return body

    async def _images(
        self, data: object, timeout_s: float | None, route: str, size: Size
    ) -> tuple[GeneratedImage, ...]:
        """Decode ``b64_json`` / data URLs, download ``url`` images."""
        items = [d for d in data if isinstance(d, Mapping)] if isinstance(data, list) else []
        images: list[GeneratedImage] = []
        for item in items:
            if isinstance(item.get("b64_json"), str):
                mime = item.get("mime_type") or item.get("media_type")
                images.append(decode_image(item["b64_json"], mime, route, size))
            elif isinstance(item.get("url"), str):
                images.append(await self._fetch(item["url"], timeout_s, route, size))
        if not images:
            raise NoImageReturned("answered without an image (empty data)", route=route, size=size)
        return tuple(images)

    async def _fetch(
        self, url: str, timeout_s: float | None, route: str, size: Size
    ) -> GeneratedImage:
        if DATA_URL.match(url):
            return decode_image(url.split(",", 1)[1], None, route, size)
        if self._session is None:
            self._session = aiohttp.ClientSession()
        return await download_image(
            self._session, url, max_bytes=self._max_download, timeout_s=real_timeout_s(timeout_s),
            route=route, size=size, policy=self._download_policy,
        )  # fmt: skip


_GENERATE_ONLY: Final = frozenset({"moderation", "style"})
"""Route options ``images.edit`` does not take."""


def _file(stem: str, image: GeneratedImage) -> tuple[str, bytes, str]:
    """A multipart file: a name with the image's extension, its bytes, its type."""
    return f"{stem}{image.extension}", image.data, image.mime_type


def _refuse_quality(spec: OpenAIModel, quality: str | None, route: str, size: Size) -> None:
    if quality is not None and quality not in spec.qualities:
        raise InvalidRequestError(
            f"{route}: quality {quality!r} not offered (use {sorted(spec.qualities)})",
            field="quality", route=route, size=size,
        )  # fmt: skip


def _pixel_size(spec: OpenAIModel, size: Size, aspect_ratio: str) -> tuple[int, int]:
    """``WxH`` for a tier and ratio: the closest fixed shape, or computed for flex models."""
    w, h = parse_aspect_ratio(aspect_ratio)
    if spec.fixed_sizes:
        return min(spec.fixed_sizes, key=lambda s: abs(math.log((s[0] / s[1]) / (w / h))))
    width, height = pixels_for(size, aspect_ratio, multiple=_FLEX_MULTIPLE)
    shrink = min(
        1.0, _FLEX_MAX_SIDE / max(width, height), math.sqrt(_FLEX_MAX_PIXELS / (width * height))
    )
    if shrink < 1.0:
        width = int(width * shrink) // _FLEX_MULTIPLE * _FLEX_MULTIPLE
        height = int(height * shrink) // _FLEX_MULTIPLE * _FLEX_MULTIPLE
    return width, height

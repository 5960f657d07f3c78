"""`gemini`: Gemini image models ("Nano Banana") on Google AI Studio, the Gemini
Developer API, through google-genai's async client.

Credentials: ``api_key=``, else ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY`` (or the route's
``api_key_env``). Route options: ``api_version`` (``"v1"``, the SDK default, or
``"v1beta"``), ``price_usd`` (override the list prices), ``max_response_bytes`` (cap
on an answer, 64 MiB by default) and ``inline_bytes_in_flight`` (input image bytes sent
at once, 64 MiB by default: `imagegate.providers._inflight`). The request and error mapping live in
`imagegate.providers._google`, shared with Vertex AI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google import genai
from pydantic import SecretStr

from imagegate._redact import register_secret
from imagegate._request import Size
from imagegate.errors import ConfigurationError
from imagegate.providers._google import (
    KNOWN_MODELS,
    GoogleGenAIProvider,
    check_response_cap,
    http_options,
)
from imagegate.providers._inflight import DEFAULT_INLINE_BYTES_IN_FLIGHT
from imagegate.providers._options import check_options, positive_int
from imagegate.providers._prices import parse_price_option
from imagegate.providers._registry import ProviderConfig
from imagegate.resilience.clock import Clock

__all__ = ["DEFAULT_PRICE_USD", "ENV_VARS", "INLINE_CAP_BYTES", "KNOWN_MODELS", "GeminiProvider"]

ENV_VARS: Final = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
"""Where the key is looked up, in order, when none is given."""

DEFAULT_PRICE_USD: Final = 0.05
"""Per-image price assumed for model names not in `KNOWN_MODELS` (AI Studio tier 1, as
reported)."""

INLINE_CAP_BYTES: Final = 100_000_000
"""Most inline data (base64) one Gemini API request may carry: 100 MB since January 2026,
up from 20 MB (https://blog.google/innovation-and-ai/technology/developers-tools/gemini-api-new-file-limits).
The API publishes no per-image limit for inline data."""

_OPTIONS: Final = ("api_version", "inline_bytes_in_flight", "max_response_bytes", "price_usd")


class GeminiProvider(GoogleGenAIProvider):
    """Gemini on AI Studio.

    Args:
        api_key: The key; else ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``.
        base_url: Another endpoint (a proxy, the simulator).
        api_version: ``"v1"`` (google-genai 3.x default) or ``"v1beta"``.
        price_usd: One price for every tier, or a tier → price mapping.
        max_response_bytes: Largest answer read, after decompression (64 MiB).
        clock: The router's clock (the router passes its own): a daily quota's
            ``reset_at`` is the next Pacific midnight on its wall time. None: real time.

    Raises:
        ConfigurationError: no key (names ``GEMINI_API_KEY``), or a bad option.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        price_usd: float | Mapping[Size, float] | None = None,
        max_response_bytes: int | None = None,
        inline_bytes_in_flight: int = DEFAULT_INLINE_BYTES_IN_FLIGHT,
        clock: Clock | None = None,
    ) -> None:
        if api_version is not None and not isinstance(api_version, str):
            raise ConfigurationError(f"gemini: api_version must be a string, got {api_version!r}")
        prices = parse_price_option(price_usd, provider="gemini")
        cap = check_response_cap("gemini", max_response_bytes)
        secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
        key = ProviderConfig(api_key=secret, api_key_env=api_key_env).resolve_key(
            *ENV_VARS, provider="gemini"
        )
        register_secret(key)
        client = genai.Client(
            vertexai=False,  # never switched to Vertex by GOOGLE_GENAI_USE_VERTEXAI
            api_key=key.get_secret_value(),
            http_options=http_options(base_url, api_version, max_response_bytes=cap),
        )
        super().__init__(
            "gemini",
            client=client,
            default_price_usd=DEFAULT_PRICE_USD,
            price_usd=prices,
            description=f"base_url={base_url!r}" if base_url else "",
            inline_cap_bytes=INLINE_CAP_BYTES,
            per_image_cap=False,
            inline_bytes_in_flight=positive_int(
                "gemini", "inline_bytes_in_flight", inline_bytes_in_flight
            ),
            clock=clock,
        )

    @classmethod
    def from_config(cls, config: ProviderConfig) -> GeminiProvider:
        """Build from a route's `ProviderConfig` (the registry's factory)."""
        check_options("gemini", config.options, _OPTIONS)
        return cls(
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            base_url=config.base_url,
            api_version=config.options.get("api_version"),
            price_usd=config.options.get("price_usd"),
            max_response_bytes=config.options.get("max_response_bytes"),
            inline_bytes_in_flight=config.options.get(
                "inline_bytes_in_flight", DEFAULT_INLINE_BYTES_IN_FLIGHT
            ),
            clock=config.clock,
        )

"""`vertex`: Gemini image models on Vertex AI, through google-genai with ``vertexai=True``.

Two ways in:

- **Project mode** (the usual one): a Google Cloud project and location, authenticated by
  Application Default Credentials (``gcloud auth application-default login``, a service
  account in ``GOOGLE_APPLICATION_CREDENTIALS``, or the metadata server) or by explicit
  ``credentials``. Project from the ``project`` option or ``GOOGLE_CLOUD_PROJECT``;
  location from ``location`` or ``GOOGLE_CLOUD_LOCATION``, default ``global`` (where the
  Gemini 3 image models are served).
- **Express mode**: an API key (``api_key=`` or the route's ``api_key_env``), no project.

Route options: ``project``, ``location``, ``credentials`` (a
``google.auth.credentials.Credentials``), ``api_version``, ``price_usd``,
``max_response_bytes`` (cap on an answer, 64 MiB by default) and
``inline_bytes_in_flight`` (input image bytes sent at once, 64 MiB by default). Requests and
error mapping are shared with AI Studio (`imagegate.providers._google`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

import google.auth
import google.auth.credentials
import google.auth.exceptions
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

__all__ = [
    "DEFAULT_LOCATION",
    "DEFAULT_PRICE_USD",
    "KNOWN_MODELS",
    "LOCATION_ENV_VAR",
    "PROJECT_ENV_VAR",
    "VertexProvider",
]

PROJECT_ENV_VAR: Final = "GOOGLE_CLOUD_PROJECT"
LOCATION_ENV_VAR: Final = "GOOGLE_CLOUD_LOCATION"
DEFAULT_LOCATION: Final = "global"
"""Gemini 3 image models are served from the global endpoint."""

DEFAULT_PRICE_USD: Final = 0.08
"""Per-image price assumed for model names not in `KNOWN_MODELS` (Vertex AI, as
reported)."""

_SCOPES: Final = ("https://www.googleapis.com/auth/cloud-platform",)
_ADC_ENV_VAR: Final = "GOOGLE_APPLICATION_CREDENTIALS"
_OPTIONS: Final = (
    "api_version", "credentials", "inline_bytes_in_flight", "location", "max_response_bytes",
    "price_usd", "project",
)  # fmt: skip


class VertexProvider(GoogleGenAIProvider):
    """Gemini on Vertex AI, in project mode (ADC or ``credentials``) or express mode.

    Args:
        api_key: A Vertex express-mode key; selects express mode.
        api_key_env: The env var holding an express-mode key; selects express mode.
        project: The Google Cloud project; else ``GOOGLE_CLOUD_PROJECT``.
        location: The region, ``global``, ``us`` or ``eu``; else ``GOOGLE_CLOUD_LOCATION``,
            else ``global``.
        credentials: google-auth credentials; else Application Default Credentials.
        base_url: Another endpoint (a private endpoint, the simulator).
        api_version: ``"v1beta1"`` (the SDK default) or ``"v1"``.
        price_usd: One price for every tier, or a tier → price mapping.
        max_response_bytes: Largest answer read, after decompression (64 MiB).
        clock: The router's clock (the router passes its own): a daily quota's
            ``reset_at`` is the next Pacific midnight on its wall time. None: real time.

    Raises:
        ConfigurationError: no project (names ``GOOGLE_CLOUD_PROJECT``), no usable
            credentials (names ``GOOGLE_APPLICATION_CREDENTIALS``), or a bad option.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        project: str | None = None,
        location: str | None = None,
        credentials: google.auth.credentials.Credentials | None = None,
        base_url: str | None = None,
        api_version: str | None = None,
        price_usd: float | Mapping[Size, float] | None = None,
        max_response_bytes: int | None = None,
        inline_bytes_in_flight: int = DEFAULT_INLINE_BYTES_IN_FLIGHT,
        clock: Clock | None = None,
    ) -> None:
        _check_project_options(project, location, credentials)
        prices = parse_price_option(price_usd, provider="vertex")
        cap = check_response_cap("vertex", max_response_bytes)
        location = location or os.environ.get(LOCATION_ENV_VAR) or DEFAULT_LOCATION
        if api_key is not None or api_key_env is not None:
            kwargs, description = _express_mode(api_key, api_key_env, credentials)
        else:
            kwargs, description = _project_mode(project, location, credentials)
        if base_url:
            description += f", base_url={base_url!r}"
        client = genai.Client(
            vertexai=True,
            http_options=http_options(base_url, api_version, max_response_bytes=cap),
            **kwargs,
        )
        super().__init__(
            "vertex",
            client=client,
            default_price_usd=DEFAULT_PRICE_USD,
            price_usd=prices,
            description=description,
            inline_bytes_in_flight=positive_int(
                "vertex", "inline_bytes_in_flight", inline_bytes_in_flight
            ),
            clock=clock,
        )

    @classmethod
    def from_config(cls, config: ProviderConfig) -> VertexProvider:
        """Build from a route's `ProviderConfig` (the registry's factory)."""
        check_options("vertex", config.options, _OPTIONS)
        options = config.options
        return cls(
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            project=options.get("project"),
            location=options.get("location"),
            credentials=options.get("credentials"),
            base_url=config.base_url,
            api_version=options.get("api_version"),
            price_usd=options.get("price_usd"),
            max_response_bytes=options.get("max_response_bytes"),
            inline_bytes_in_flight=options.get(
                "inline_bytes_in_flight", DEFAULT_INLINE_BYTES_IN_FLIGHT
            ),
            clock=config.clock,
        )


def _check_project_options(project: object, location: object, credentials: object) -> None:
    for label, value in (("project", project), ("location", location)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigurationError(f"vertex: {label} must be a non-empty string")
    if credentials is not None and not isinstance(credentials, google.auth.credentials.Credentials):
        raise ConfigurationError(
            "vertex: credentials must be a google.auth.credentials.Credentials, got "
            f"{type(credentials).__name__}"
        )


def _express_mode(
    api_key: str | SecretStr | None,
    api_key_env: str | None,
    credentials: google.auth.credentials.Credentials | None,
) -> tuple[dict[str, Any], str]:
    """The client's arguments and the description for a Vertex express-mode key."""
    if credentials is not None:
        raise ConfigurationError("vertex: give an api_key (express mode) or credentials")
    secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
    key = ProviderConfig(api_key=secret, api_key_env=api_key_env).resolve_key(provider="vertex")
    register_secret(key)
    return {"api_key": key.get_secret_value()}, "express mode"


def _project_mode(
    project: str | None,
    location: str,
    credentials: google.auth.credentials.Credentials | None,
) -> tuple[dict[str, Any], str]:
    """The client's arguments and the description for a project, with ADC unless
    ``credentials`` are given."""
    project = project or os.environ.get(PROJECT_ENV_VAR)
    if not project:
        raise ConfigurationError(
            f"vertex: no project: set {PROJECT_ENV_VAR} or pass project= "
            "(or an api_key for Vertex express mode)",
            env_var=PROJECT_ENV_VAR,
        )
    credentials = credentials or _default_credentials()
    register_secret(getattr(credentials, "token", None))
    kwargs = {"project": project, "location": location, "credentials": credentials}
    return kwargs, f"project={project!r}, location={location!r}"


def _default_credentials() -> google.auth.credentials.Credentials:
    try:
        credentials, _ = google.auth.default(scopes=list(_SCOPES))
    except google.auth.exceptions.DefaultCredentialsError as exc:
        raise ConfigurationError(
            "vertex: no Application Default Credentials: run 'gcloud auth "
            f"application-default login', set {_ADC_ENV_VAR} to a service-account key "
            "file, or pass credentials= (or an api_key for express mode)",
            env_var=_ADC_ENV_VAR,
        ) from exc
    return credentials

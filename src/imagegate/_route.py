"""`Route`: one way to get an image — a provider, a model, credentials and options."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from pydantic import SecretStr

from imagegate._provider import Provider
from imagegate._redact import register_secret
from imagegate.errors import ConfigurationError
from imagegate.providers._registry import ProviderConfig
from imagegate.resilience.ratelimit import RateLimit

__all__ = ["Route"]


class Route:
    """A provider plus a model, and how to reach it.

    Args:
        provider: A registered provider name (``"gemini"``) or a `Provider` instance.
        model: The model name on that provider.
        base_url: Endpoint override (an aggregator, a proxy, the simulator).
        api_key: The key; kept as a `SecretStr` and never shown.
        api_key_env: The env var to read the key from instead of the provider's default.
        backup: A different model that is acceptable only as a last resort; tried after
            every primary option (and only when the request allows backups).
        name: How the route appears in results and logs; ``"provider/model"`` by default.
        rate_limit: The provider's limits for this route (RPM, IPM, RPD, spacing).
        quota_key: Routes with the same key share one rate limit and quota (e.g. two
            models on one Gemini project); defaults to the route name.
        max_concurrency: At most this many attempts in flight on the route.
        weight: Share of traffic under ``strategy="weighted"``.
        **options: Passed to the provider (``quality="high"``, ``location="global"`` …).

    Raises:
        ConfigurationError: for an empty model or provider name, or a bad setting.
    """

    __slots__ = (
        "_config",
        "backup",
        "instance",
        "max_concurrency",
        "model",
        "name",
        "options",
        "provider",
        "quota_key",
        "rate_limit",
        "weight",
    )

    def __init__(
        self,
        provider: str | Provider,
        *,
        model: str,
        base_url: str | None = None,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        backup: bool = False,
        name: str | None = None,
        rate_limit: RateLimit | None = None,
        quota_key: str | None = None,
        max_concurrency: int | None = None,
        weight: float = 1.0,
        **options: Any,
    ) -> None:
        if isinstance(provider, str):
            if not provider:
                raise ConfigurationError("Route: provider name must not be empty")
            self.provider: str = provider
            self.instance: Provider | None = None
        else:
            self.provider = provider.name
            self.instance = provider
        if not model:
            raise ConfigurationError(f"Route({self.provider!r}): model must not be empty")
        self.model = model
        self.backup = backup
        self.name = name or f"{self.provider}/{model}"
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigurationError(f"Route({self.name}): max_concurrency must be at least 1")
        if not weight >= 0:
            raise ConfigurationError(f"Route({self.name}): weight must not be negative")
        self.rate_limit = rate_limit
        self.quota_key = quota_key or self.name
        self.max_concurrency = max_concurrency
        self.weight = float(weight)
        self.options: Mapping[str, Any] = MappingProxyType(dict(options))
        key = SecretStr(api_key) if isinstance(api_key, str) else api_key
        register_secret(key)
        self._config = ProviderConfig(
            api_key=key, api_key_env=api_key_env, base_url=base_url, options=self.options
        )

    @property
    def config(self) -> ProviderConfig:
        """What the provider factory receives."""
        return self._config

    @property
    def base_url(self) -> str | None:
        """The endpoint override, if any."""
        return self._config.base_url

    def __repr__(self) -> str:
        extras = []
        if self._config.base_url:
            extras.append(f"base_url={self._config.base_url!r}")
        if self._config.api_key is not None:
            extras.append("api_key=SecretStr('**********')")
        if self._config.api_key_env:
            extras.append(f"api_key_env={self._config.api_key_env!r}")
        if self.backup:
            extras.append("backup=True")
        if self.rate_limit is not None:
            extras.append(f"rate_limit={self.rate_limit!r}")
        if self.max_concurrency is not None:
            extras.append(f"max_concurrency={self.max_concurrency}")
        extras.extend(f"{k}={v!r}" for k, v in self.options.items())
        tail = "".join(", " + e for e in extras)
        return f"Route({self.provider!r}, model={self.model!r}{tail})"

"""`Router.from_config`: build a router from a TOML file or a mapping, with clear errors.

    max_in_flight = 16
    attempt_timeout_s = 300
    budget_usd = 25.0
    strategy = "priority"
    preset = "balanced"             # or "latency", "quality"

    [retry]                      # RetryPolicy fields
    attempts = 3

    [breaker]                    # BreakerPolicy fields
    failure_rate = 0.5

    [hedge]                      # HedgePolicy fields; hedge = false turns hedging off
    size = "2K"

    [[routes]]
    provider = "gemini"
    model = "gemini-3-pro-image"
    api_key_env = "GEMINI_API_KEY"
    rate_limit = { rpm = 10, rpd = 250 }   # RateLimit fields (margin_s = 1.0 by default)
    # any other key is a provider option (quality = "high", location = "global" …)

Keys are never read from the file by default: name the variable with ``api_key_env``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imagegate.errors import ConfigurationError
from imagegate.resilience.breaker import BreakerPolicy
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ratelimit import RateLimit
from imagegate.resilience.retry import RetryPolicy

if TYPE_CHECKING:
    from imagegate._route import Route

__all__ = ["RouterSettings", "load_settings"]

_T = TypeVar("_T")


class _RouteSettings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    backup: bool = False
    name: str | None = None
    rate_limit: dict[str, Any] | None = None
    quota_key: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, ge=0)


class RouterSettings(BaseModel):
    """A validated router configuration; `build_kwargs` turns it into `Router` arguments."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    routes: list[_RouteSettings] = Field(min_length=1)
    attempt_timeout_s: float | None = Field(default=None, gt=0)
    max_in_flight: int = Field(default=16, ge=1)
    budget_usd: float | None = Field(default=None, ge=0)
    strategy: Literal["priority", "cheapest", "fastest", "weighted"] = "priority"
    preset: Literal["latency", "balanced", "quality"] = "balanced"
    failover_on_blocked: bool = False
    seed: int | None = None
    retry: dict[str, Any] | None = None
    breaker: dict[str, Any] | None = None
    hedge: dict[str, Any] | Literal[False] | None = None

    def build_kwargs(self) -> dict[str, Any]:
        """`Router` keyword arguments: routes and policies, built and checked."""
        kwargs: dict[str, Any] = self.model_dump(
            include={
                "attempt_timeout_s",
                "max_in_flight",
                "budget_usd",
                "strategy",
                "preset",
                "failover_on_blocked",
                "seed",
            }
        )
        kwargs["routes"] = [_route(i, r) for i, r in enumerate(self.routes)]
        if self.retry is not None:
            kwargs["retry"] = _policy("retry", RetryPolicy, self.retry)
        if self.breaker is not None:
            kwargs["breaker"] = _policy("breaker", BreakerPolicy, self.breaker)
        if self.hedge is False:
            kwargs["hedge"] = None
        elif self.hedge is not None:
            kwargs["hedge"] = _policy("hedge", HedgePolicy, self.hedge)
        return kwargs


def _policy(section: str, cls: type[_T], values: Mapping[str, Any]) -> _T:
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"config [{section}]: {exc}") from exc


def _route(index: int, settings: _RouteSettings) -> Route:
    from imagegate._route import Route

    where = f"routes[{index}] ({settings.provider}/{settings.model})"
    options = dict(settings.model_extra or {})
    if "api_key" in options:
        raise ConfigurationError(
            f"config {where}: put keys in the environment and name the variable with "
            "api_key_env, not api_key"
        )
    rate_limit = None
    if settings.rate_limit is not None:
        rate_limit = _policy(f"{where}.rate_limit", RateLimit, settings.rate_limit)
    return Route(
        settings.provider,
        model=settings.model,
        base_url=settings.base_url,
        api_key_env=settings.api_key_env,
        backup=settings.backup,
        name=settings.name,
        rate_limit=rate_limit,
        quota_key=settings.quota_key,
        max_concurrency=settings.max_concurrency,
        weight=settings.weight,
        **options,
    )


def load_settings(source: Mapping[str, Any] | str | os.PathLike[str]) -> RouterSettings:
    """Read and validate a configuration from a mapping or a TOML file path.

    Raises:
        ConfigurationError: naming the file, the section and the field at fault.
    """
    where = "config"
    if isinstance(source, Mapping):
        data: Mapping[str, Any] = source
    else:
        path = Path(source)
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigurationError(f"config file not found: {path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return RouterSettings.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'top level'}: {err['msg']}"
            for err in exc.errors(include_url=False, include_input=False)
        )
        raise ConfigurationError(f"{where}: {problems}") from exc

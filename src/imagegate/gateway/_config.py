"""The gateway's configuration: the router's TOML plus a ``[gateway]`` table.

::

    [[routes]]                        # the router's own keys (docs/configuration.md)
    provider = "gemini"
    model = "gemini-3-pro-image"

    [gateway]
    max_body_bytes = 52428800         # larger requests get 413
    grace_s = 30                      # SIGTERM: in-flight requests get this long to finish
    log_prompts = false
    redis_url_env = "IMAGEGATE_REDIS_URL"   # optional: share state through Redis
    redis_prefix = "imagegate-prod"

    [gateway.models]                  # public model name -> route names, in order
    "nano-banana-pro" = ["gemini/gemini-3-pro-image"]

    [gateway.clients]                 # name -> sha256 of its key, optional limits
    alice = { key_sha256 = "9f86…", rpm = 60, budget_usd = 20.0 }

The router part is checked by `load_settings`, the ``[gateway]`` table here, and every
route a model names must be one of the router's. Problems are reported as the router's
are: the file, then each key by its path, with the closest known one when misspelt.
Values are never repeated (a key's hash is not a secret, but a pasted key would be).
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imagegate._config import load_settings
from imagegate._settings import RouterSettings
from imagegate.errors import ConfigurationError

__all__ = ["ClientSettings", "GatewayConfig", "GatewaySettings", "load_config"]

DEFAULT_MAX_BODY_BYTES: Final = 50 * 1024 * 1024


class ClientSettings(BaseModel):
    """One client of the gateway.

    Attributes:
        key_sha256: Hex sha256 of its key (``imagegate serve keys add NAME`` prints it).
        rpm: Requests it may start per minute (None: no limit).
        budget_usd: What its requests may cost in total (None: no cap).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    rpm: int | None = Field(default=None, ge=1)
    budget_usd: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class GatewaySettings(BaseModel):
    """The ``[gateway]`` table.

    Attributes:
        models: Public model name → route names (as the router names them), in order.
        clients: Client name → its settings; a request must carry one of their keys.
        max_body_bytes: Largest request body accepted (413 above).
        grace_s: How long in-flight requests may run on after SIGTERM.
        log_prompts: Put prompts in the access log (off: never).
        redis_url_env: The environment variable holding a Redis URL: replicas then share
            breakers, rate limits, budgets and client limits through `RedisState` (the
            URL may hold a password, so it is never read from the file).
        redis_prefix: The `RedisState` key prefix (one per deployment).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    models: dict[str, list[str]] = Field(min_length=1)
    clients: dict[str, ClientSettings] = Field(default_factory=dict)
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1024)
    grace_s: float = Field(default=30.0, ge=0, allow_inf_nan=False)
    log_prompts: bool = False
    redis_url_env: str | None = Field(default=None, min_length=1)
    redis_prefix: str = Field(default="imagegate", min_length=1)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    """A checked gateway configuration.

    Attributes:
        router: The router settings every model group is built from.
        gateway: The ``[gateway]`` table.
    """

    router: RouterSettings
    gateway: GatewaySettings


def load_config(
    source: Mapping[str, Any] | str | os.PathLike[str], **overrides: Any
) -> GatewayConfig:
    """Read and check a gateway configuration from a TOML file or a mapping.

    Args:
        source: A path, or the same structure as a mapping (routes may be `Route` objects).
        **overrides: `Router` arguments that win over the file (``clock=``, ``state=`` …).

    Raises:
        ConfigurationError: naming the file and every key at fault.
    """
    where = "config"
    if isinstance(source, Mapping):
        data = dict(source)
    else:
        where = str(source)
        data = _read(Path(source))
    table = data.pop("gateway", None)
    router = load_settings(data, **overrides)
    if table is None:
        raise ConfigurationError(f"{where}: gateway is required: a [gateway] table with models")
    try:
        gateway = GatewaySettings.model_validate(table)
    except ValidationError as exc:
        raise ConfigurationError(_report(where, _problems(exc))) from None
    problems = _unknown_routes(gateway, [route.name for route in router.routes])
    if problems:
        raise ConfigurationError(_report(where, problems))
    return GatewayConfig(router=router, gateway=gateway)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None


def _problems(exc: ValidationError) -> list[str]:
    """One line per error: the key's path under ``gateway``, and what is wrong."""
    lines = []
    for error in exc.errors(include_url=False):
        path = "gateway" + "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        )
        if error["type"] == "extra_forbidden":
            known = _known_keys(error["loc"])
            lines.append(f"{path} is not a known key{_did_you_mean(error['loc'][-1], known)}")
        else:
            lines.append(f"{path}: {error['msg'].removeprefix('Value error, ')}")
    return lines


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    model = ClientSettings if len(loc) > 2 and loc[0] == "clients" else GatewaySettings
    return list(model.model_fields)


def _unknown_routes(gateway: GatewaySettings, names: list[str]) -> list[str]:
    problems = []
    for model, routes in gateway.models.items():
        if not routes:
            problems.append(f"gateway.models.{model} must name at least one route")
        for i, name in enumerate(routes):
            if name not in names:
                hint = _did_you_mean(name, names)
                problems.append(f"gateway.models.{model}[{i}] names no route{hint}")
    return problems


def _did_you_mean(word: object, candidates: list[str]) -> str:
    if not isinstance(word, str):
        return ""
    match = difflib.get_close_matches(word, candidates, n=1)
    return f"; did you mean `{match[0]}`?" if match else ""


def _report(where: str, problems: list[str]) -> str:
    if len(problems) == 1:
        return f"{where}: {problems[0]}"
    return f"{where}: {len(problems)} problems:" + "".join(f"\n  - {p}" for p in problems)

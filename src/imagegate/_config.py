"""Configurations from outside: read, checked, explained and shown back.

`Router.from_config` reads a TOML file (or takes the same structure as a mapping)::

    preset = "balanced"             # or "latency", "quality"
    max_in_flight = 16
    attempt_timeout_s = 300
    budget_usd = 25.0
    strategy = "priority"

    [retry]                      # RetryPolicy's arguments
    attempts = 3

    [breaker]                    # BreakerPolicy's arguments
    failure_rate = 0.5

    [hedge]                      # HedgePolicy's arguments; hedge = false turns hedging off
    size = "2K"

    [[routes]]
    provider = "gemini"
    model = "gemini-3-pro-image"
    api_key_env = "GEMINI_API_KEY"
    rate_limit = { rpm = 10, rpd = 250 }   # RateLimit's arguments
    # any other key is a provider option (quality = "high", location = "global" …)

Every other `Router` argument (``timeouts``, ``admission``, ``order`` …) may be set the
same way. `validate_settings` checks a file, a mapping and `Router` arguments alike, with
`RouterSettings`, and reports every problem at once in one `ConfigurationError`: where
(the file), the path of each key (``routes[2].backpu``) and, for a misspelt key or
choice, the closest known one (``did you mean `backup`?``). Values are never repeated
in the message, except a misspelt choice (``preset``, ``hedge.size`` …). `describe`
shows what a router built from the settings would run with, keys masked.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from pydantic import SecretStr, ValidationError
from pydantic_core import ErrorDetails

from imagegate._presets import UNSET
from imagegate._route import Route
from imagegate._route_settings import PROBLEM
from imagegate._settings import SECTIONS, RouterSettings
from imagegate.errors import ConfigurationError
from imagegate.resilience.ratelimit import RateLimit
from imagegate.resilience.retry import RetryPolicy

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = ["describe", "load_settings", "validate_settings"]

_MASK: Final = "**********"
_PREDICATES: Final = ("is ", "must ")
# How pydantic's errors read after the key's path; any other reads "path: pydantic's text".
_PHRASES: Final = {
    "missing": "is required",
    "extra_forbidden": "is not a known key",
    "unexpected_keyword_argument": "is not a known key",
    "greater_than": "must be greater than {gt:g}",
    "greater_than_equal": "must be at least {ge:g}",
    "literal_error": "must be one of {choices}, got {input!r}",
    "string_too_short": "must not be empty",
    "is_instance_of": "must be a {class}",
}
_TABLES: Final[dict[str, type]] = {**SECTIONS, "rate_limit": RateLimit}


def load_settings(
    source: Mapping[str, Any] | str | os.PathLike[str], **overrides: Any
) -> RouterSettings:
    """Read and check a configuration from a TOML file path or a mapping.

    Args:
        source: A path to a TOML file, or the same structure as a mapping.
        **overrides: `Router` arguments that win over the file's.

    Raises:
        ConfigurationError: naming the file and every key at fault.
    """
    if isinstance(source, Mapping):
        return validate_settings({**source, **overrides}, where="config")
    path = Path(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot be read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
    return validate_settings({**data, **overrides}, where=str(path))


def validate_settings(data: Mapping[str, Any], *, where: str | None = None) -> RouterSettings:
    """Check ``data`` (`Router` arguments, in Python or file form) into `RouterSettings`.

    Args:
        data: The arguments by name; one given as ``UNSET`` counts as not given (the
            preset's default applies).
        where: Where they come from (a file name), to head the message.

    Raises:
        ConfigurationError: listing every problem, each with the path of its key.
    """
    given = {name: value for name, value in data.items() if value is not UNSET}
    try:
        return RouterSettings.model_validate(given)
    except ValidationError as exc:
        # Not chained: pydantic's own text repeats the values, and a value may be a key.
        raise ConfigurationError(_message(exc, where)) from None


def _message(exc: ValidationError, where: str | None) -> str:
    """Every problem of ``exc``, one line each, headed by ``where``."""
    problems = [_problem(error) for error in exc.errors(include_url=False)]
    head = f"{where}: " if where else ""
    if len(problems) == 1:
        return head + problems[0]
    lines = "".join(f"\n  - {problem}" for problem in problems)
    return f"{head}{len(problems)} problems:{lines}"


def _problem(error: ErrorDetails) -> str:
    """One error as a line: the key's path, what is wrong, and a suggestion."""
    loc = error["loc"]
    context = error.get("ctx", {})
    text, word, candidates = _explain(error, context)
    path = _path(loc) or "the configuration"
    separator = " " if text.startswith(_PREDICATES) else ": "
    return f"{path}{separator}{text}{_did_you_mean(word, candidates)}"


def _explain(error: ErrorDetails, context: Mapping[str, Any]) -> tuple[str, object, Iterable[str]]:
    """What is wrong, the word that may be misspelt, and what it may have meant."""
    kind = error["type"]
    if kind == PROBLEM:  # worded in `imagegate._route_settings`: the context says it all
        return context["message"], context["word"], context["candidates"]
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", context["expected"])
        text = _PHRASES[kind].format(choices=", ".join(choices), input=error["input"])
        return text, error["input"], choices
    if kind in ("extra_forbidden", "unexpected_keyword_argument"):
        return _PHRASES[kind], error["loc"][-1], _keys_at(error["loc"])
    if kind in _PHRASES:
        return _PHRASES[kind].format(**context), None, ()
    return error["msg"].removeprefix("Value error, "), None, ()


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys known where ``loc`` points: the top level's, or a policy table's."""
    table = next((part for part in reversed(loc[:-1]) if isinstance(part, str)), None)
    if table is None:
        return list(RouterSettings.model_fields)
    cls = _TABLES.get(table)
    return [f.name for f in dataclasses.fields(cls) if f.init] if cls is not None else []


def _path(loc: tuple[int | str, ...]) -> str:
    """``("routes", 2, "backpu")`` → ``routes[2].backpu``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path.removeprefix(".")


def _did_you_mean(word: object, candidates: Iterable[str]) -> str:
    """``; did you mean `backup`?`` when ``word`` is close to one of ``candidates``
    (case aside: ``4k`` means ``4K``)."""
    if not isinstance(word, str):
        return ""
    by_lower = {candidate.lower(): candidate for candidate in candidates}
    match = difflib.get_close_matches(word.lower(), by_lower, n=1)
    return f"; did you mean `{by_lower[match[0]]}`?" if match else ""


def describe(settings: RouterSettings) -> dict[str, Any]:
    """What a router built from ``settings`` runs with: the preset's policies where none
    was given, every key masked, as plain data (for ``imagegate config check``)."""
    policies = settings.policies()
    return {
        "preset": settings.preset,
        "routes": [_route(route) for route in settings.routes],
        "attempt_timeout_s": settings.attempt_timeout_s,
        "max_in_flight": settings.max_in_flight,
        "budget_usd": settings.budget_usd,
        "strategy": settings.strategy,
        "order": policies.order,
        "failover_on_blocked": settings.failover_on_blocked,
        "seed": settings.seed,
        "retry": _plain(settings.retry or RetryPolicy()),
        "breaker": _plain(policies.breaker),
        "hedge": _plain(policies.hedge),
        "timeouts": _plain(policies.timeouts),
        "admission": _plain(policies.admission),
    }


def _route(route: Route) -> dict[str, Any]:
    """A route as plain data, its key masked (options go through `_plain` too)."""
    config = route.config
    return {
        "name": route.name,
        "provider": route.provider,
        "model": route.model,
        "backup": route.backup,
        "base_url": config.base_url,
        "api_key": None if config.api_key is None else _MASK,
        "api_key_env": config.api_key_env,
        "rate_limit": _plain(route.rate_limit),
        "quota_key": route.quota_key,
        "max_concurrency": route.max_concurrency,
        "weight": route.weight,
        "options": _plain(route.options),
    }


def _plain(value: object) -> Any:
    """``value`` as JSON-ready data: a policy as its shown fields, a class by name."""
    if isinstance(value, str | int | float | bool | None):
        return value
    if isinstance(value, SecretStr):
        return _MASK
    if isinstance(value, type):
        return value.__name__
    if dataclasses.is_dataclass(value):
        return _shown_fields(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(item) for item in value]
    return repr(value)


def _shown_fields(policy: DataclassInstance | type[DataclassInstance]) -> dict[str, Any]:
    """A dataclass's fields as its ``repr`` shows them (a policy's ``rng`` is not)."""
    shown = (f.name for f in dataclasses.fields(policy) if f.repr)
    return {name: _plain(getattr(policy, name)) for name in shown}

"""Routes in a configuration: the file form of a `Route`, and the checks made at load.

A route in a file is a table of `Route`'s arguments; every other key is an option for
its provider::

    [[routes]]
    provider = "openai"
    model = "gpt-image-1.5"
    backup = true
    rate_limit = { rpm = 10 }   # RateLimit's arguments
    quality = "high"            # an option of the openai provider

Keys are not read from files: ``api_key_env`` names the variable that holds one.

Every route, written in a file or built in Python, is then checked against the registry
(`checked_route`): its provider must be registered, and a built-in provider's route may
carry only the options that provider takes, so ``backpu = true`` is reported as a typo of
``backup`` when the configuration is loaded instead of when the router opens. A plugin
provider checks its own options when it is built.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from imagegate._route import Route
from imagegate.errors import ConfigurationError
from imagegate.providers import registry as default_registry
from imagegate.providers._registry import ProviderInfo, Registry
from imagegate.resilience.ratelimit import RateLimit

__all__ = [
    "PROBLEM",
    "ROUTE_KEYS",
    "RouteSettings",
    "accepted_options",
    "check_route_names",
    "checked_route",
]

PROBLEM: Final = "config"
"""The error type of every problem worded here; its context holds ``message``, and the
``word`` that may be misspelt with the ``candidates`` it may mean."""
_BUILTINS_MODULE: Final = "imagegate.providers._builtins"
_FAKE_OPTIONS: Final = frozenset({"latency_s"})  # what the built-in fake's factory reads


class RouteSettings(BaseModel):
    """One route as a configuration file writes it; `build` makes the `Route`.

    Attributes:
        provider_options: Every key that is not a `Route` argument, for the provider.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(min_length=1)
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key: None = None
    api_key_env: str | None = None
    backup: bool = False
    name: str | None = None
    rate_limit: RateLimit | None = None
    quota_key: str | None = None
    max_concurrency: int | None = Field(default=None, ge=1)
    weight: float = Field(default=1.0, ge=0)
    provider_options: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _gather_options(cls, data: object) -> object:
        """Keys that are not `Route` arguments become ``provider_options``."""
        if not isinstance(data, Mapping):
            return data
        own = {key: value for key, value in data.items() if key in ROUTE_KEYS}
        return {**own, "provider_options": {k: v for k, v in data.items() if k not in own}}

    @field_validator("api_key", mode="before")
    @classmethod
    def _no_keys_in_files(cls, value: object) -> None:
        """A file holding a key would be one more place for it to leak from."""
        raise _ours(
            "is not read from a configuration: put the key in the environment and name "
            "the variable with api_key_env"
        )

    def build(self) -> Route:
        """The `Route` these settings describe."""
        return Route(
            self.provider,
            model=self.model,
            base_url=self.base_url,
            api_key_env=self.api_key_env,
            backup=self.backup,
            name=self.name,
            rate_limit=self.rate_limit,
            quota_key=self.quota_key,
            max_concurrency=self.max_concurrency,
            weight=self.weight,
            **self.provider_options,
        )


ROUTE_KEYS: Final = frozenset(RouteSettings.model_fields) - {"provider_options"}
"""`Route`'s own arguments; any other key of a route is a provider option."""


def accepted_options(info: ProviderInfo) -> frozenset[str] | None:
    """The options a route of provider ``info`` may carry; None when only it knows.

    The built-in adapters list theirs in their module's ``_OPTIONS`` (and refuse any
    other when they are built); a plugin's provider, or a built-in replaced by one,
    checks its own.
    """
    if getattr(info.factory, "__module__", None) != _BUILTINS_MODULE:
        return None
    if info.name == "fake":
        return _FAKE_OPTIONS
    try:
        adapter = importlib.import_module(f"imagegate.providers.{info.name}")
    except ImportError:  # the adapter's SDK is missing: building the route will say so
        return None
    options = getattr(adapter, "_OPTIONS", None)
    return None if options is None else frozenset(options)


def checked_route(value: object, info: ValidationInfo) -> object:
    """A `Route`, or its file form (a mapping) built into one, once its provider is known
    to the settings' registry (the shared one by default) and takes the route's options;
    anything else is left for pydantic to refuse.

    Raises:
        ValidationError: listing each problem of the route by key.
    """
    registry = info.data.get("registry") or default_registry
    if isinstance(value, Route):
        provider = value.provider if value.instance is None else None
        problems = list(_registry_problems(provider, value.options, registry))
        route: object = value
    elif isinstance(value, Mapping):
        options = [key for key in value if key not in ROUTE_KEYS]
        problems = list(_registry_problems(value.get("provider"), options, registry))
        try:
            route = RouteSettings.model_validate(value).build()
        except ValidationError as exc:
            problems[:0] = [_again(error) for error in exc.errors()]
    else:
        return value
    if problems:
        raise ValidationError.from_exception_data("route", problems)
    return route


def check_route_names(routes: tuple[Route, ...]) -> tuple[Route, ...]:
    """``routes``, once there is at least one and no two share a name.

    Raises:
        ValidationError: saying which names repeat.
    """
    names = [route.name for route in routes]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if not routes:
        problem = _problem((), "must list at least one route")
    elif repeated:
        problem = _problem(
            (),
            f"route names must be unique; repeated: {', '.join(repeated)} "
            "(give one of them name=...)",
        )
    else:
        return routes
    raise ValidationError.from_exception_data("routes", [problem])


def _registry_problems(
    provider: object, options: Iterable[str], registry: Registry
) -> Iterator[InitErrorDetails]:
    """A provider name that is not registered, or options a built-in provider refuses
    (None: a provider object, which takes whatever options it reads)."""
    if not isinstance(provider, str) or not provider:
        return  # a provider object, or a name RouteSettings refuses
    try:
        info = registry.get(provider)
    except ConfigurationError as exc:
        known = [info.name for info in registry.available()]
        yield _problem(("provider",), exc.message, word=provider, candidates=known)
        return
    accepted = accepted_options(info)
    if accepted is None:
        return
    for key in sorted(set(options) - accepted):
        yield _problem(
            (key,),
            f"is neither a route setting nor an option of {provider!r}",
            word=key,
            candidates=(*ROUTE_KEYS, *accepted),
        )


def _again(error: ErrorDetails) -> InitErrorDetails:
    """One error of `RouteSettings`, to be raised again with the registry's."""
    kind = error["type"]
    context = error.get("ctx")
    if kind == PROBLEM:
        assert context is not None
        return _problem(error["loc"], **context)
    return InitErrorDetails(type=kind, loc=error["loc"], input=error["input"], ctx=context or {})


def _problem(
    loc: tuple[int | str, ...],
    message: str,
    *,
    word: str | None = None,
    candidates: Iterable[str] = (),
) -> InitErrorDetails:
    """One problem at ``loc``; ``word`` may be a typo of one of ``candidates``."""
    return InitErrorDetails(
        type=_ours(message, word=word, candidates=candidates), loc=loc, input=None
    )


def _ours(
    message: str, *, word: str | None = None, candidates: Iterable[str] = ()
) -> PydanticCustomError:
    """An error worded here (`PROBLEM`)."""
    context = {"message": message, "word": word, "candidates": tuple(candidates)}
    return PydanticCustomError(PROBLEM, "{message}", context)

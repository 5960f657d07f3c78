"""Model lifecycle when a router opens: a route on a deprecated model warns once, a route
on a shut-down model is refused.

"Today" is the date the router is given (``Router(today=...)``), else the ISO date in
``IMAGEGATE_TODAY``, else the current UTC date: never a date written into the code. The
dates come from the catalogue (`imagegate.providers._catalogue`), which is the Gemini
API's and OpenAI's and BFL's published record; ``vertex`` routes are not checked, since
Vertex AI retires models on its own schedule and the catalogue does not hold it.
"""

from __future__ import annotations

import datetime as dt
import os
import warnings
from typing import Final

from imagegate._logging import get_logger
from imagegate.errors import ConfigurationError
from imagegate.providers._catalogue import Catalogue, Entry, Family, active_catalogue

__all__ = [
    "TODAY_ENV_VAR",
    "ModelDeprecatedWarning",
    "check_lifecycle",
    "resolve_today",
]

TODAY_ENV_VAR: Final = "IMAGEGATE_TODAY"
"""Environment variable holding the ISO date lifecycle checks take as today."""

_FAMILIES: Final[dict[str, tuple[Family, ...]]] = {
    "gemini": ("google",),
    "openai": ("openai",),
    "flux": ("bfl",),
    # An aggregator forwards any vendor's model: the name says which.
    "openai_compatible": ("google", "openai", "bfl"),
}

_warned: set[tuple[str, str]] = set()


class ModelDeprecatedWarning(FutureWarning):
    """A route uses a model its provider has announced it will shut down."""


def resolve_today(today: dt.date | None) -> dt.date:
    """``today``, else ``IMAGEGATE_TODAY``, else the current UTC date.

    Raises:
        ConfigurationError: ``IMAGEGATE_TODAY`` is not an ISO date.
    """
    if today is not None:
        return today
    pinned = os.environ.get(TODAY_ENV_VAR, "").strip()
    if not pinned:
        return dt.datetime.now(dt.UTC).date()
    try:
        return dt.date.fromisoformat(pinned)
    except ValueError:
        raise ConfigurationError(
            f"{TODAY_ENV_VAR}={pinned!r} is not a date (YYYY-MM-DD)", env_var=TODAY_ENV_VAR
        ) from None


def find_entry(provider: str, model: str, catalogue: Catalogue | None = None) -> Entry | None:
    """The catalogue entry a route on ``provider`` and ``model`` uses, if the lifecycle
    of that provider's models is in the catalogue."""
    current = catalogue or active_catalogue()
    for family in _FAMILIES.get(provider, ()):
        entry = current.get(model, family)
        if entry is not None:
            return entry
    return None


def check_lifecycle(
    route: str, provider: str, model: str, *, today: dt.date, catalogue: Catalogue | None = None
) -> None:
    """Refuse a route on a shut-down model; warn once (a `ModelDeprecatedWarning` and a
    ``model.deprecated`` log event) for one on a deprecated model.

    Raises:
        ConfigurationError: the model was shut down on or before ``today``; names the
            date and the successor.
    """
    entry = find_entry(provider, model, catalogue)
    if entry is None:
        return
    life = entry.lifecycle
    instead = f"; use {life.successor!r} instead" if life.successor else ""
    if life.shutdown is not None and life.shutdown <= today:
        raise ConfigurationError(
            f"route {route}: model {model!r} was shut down on {life.shutdown.isoformat()}"
            f"{instead} (catalogue entry {entry.id!r}; today is {today.isoformat()})"
        )
    if life.deprecated is None or life.deprecated > today or (provider, entry.id) in _warned:
        return
    _warned.add((provider, entry.id))
    when = f"on {life.shutdown.isoformat()}" if life.shutdown else "(no date announced yet)"
    message = f"route {route}: model {model!r} is deprecated and shuts down {when}{instead}"
    get_logger("imagegate.catalogue").warning(
        "model.deprecated",
        route=route,
        model=model,
        deprecated=life.deprecated.isoformat(),
        shutdown=life.shutdown.isoformat() if life.shutdown else None,
        successor=life.successor,
    )
    warnings.warn(message, ModelDeprecatedWarning, stacklevel=3)

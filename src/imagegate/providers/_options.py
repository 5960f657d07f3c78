"""Checks of a route's options, shared by the adapters' constructors.

Each raises `ConfigurationError` naming the provider and the option, so a typo or a bad
value fails when the router is built, not on the first request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from imagegate.errors import ConfigurationError

__all__ = ["check_options", "positive_int", "positive_seconds"]


def check_options(provider: str, options: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """Reject route options the provider does not know (a typo must not pass silently).

    Raises:
        ConfigurationError: naming the unknown options and the accepted ones.
    """
    known = set(accepted)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"{provider}: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(known)) or 'none'}"
        )


def positive_int(provider: str, label: str, value: object) -> int:
    """``value`` if it is an integer above 0 (a byte cap, a count); not a bool.

    Raises:
        ConfigurationError: ``"{provider}: {label} must be a positive integer"``.
    """
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(f"{provider}: {label} must be a positive integer")
    return value


def positive_seconds(provider: str, label: str, value: object) -> float:
    """``value`` as a float if it is a number above 0 (a duration); not a bool.

    Raises:
        ConfigurationError: ``"{provider}: {label} must be a positive number of seconds"``.
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigurationError(f"{provider}: {label} must be a positive number of seconds")
    return float(value)

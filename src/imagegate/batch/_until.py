"""``until``, the end of a batch's waiting, as the command line and the library take it."""

from __future__ import annotations

import argparse
import re
from datetime import UTC, datetime, timedelta

from imagegate.errors import ConfigurationError
from imagegate.resilience.clock import Clock, wall_clock

__all__ = ["Until", "clock_deadline", "parse_until"]

Until = datetime | timedelta | float
"""A `datetime` (without a zone: UTC), a `timedelta` from now, or a time on the router's
clock (a float, as ``router.clock.now()`` reads it)."""

_UNITS_S = {"d": 86_400.0, "h": 3_600.0, "m": 60.0, "s": 1.0}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)([dhms]))+")


def parse_until(text: str) -> timedelta:
    """``--until`` and ``--batch-until``: a duration (``36h``, ``1d12h``, ``90m``,
    ``45s``) or an ISO-8601 time (``2026-12-08T09:00``; without a zone, local time), as
    the wait from now.

    Raises:
        argparse.ArgumentTypeError: neither, or a time already past.
    """
    text = text.strip()
    if _DURATION.fullmatch(text):
        parts = re.findall(r"(\d+(?:\.\d+)?)([dhms])", text)
        return timedelta(seconds=sum(float(n) * _UNITS_S[u] for n, u in parts))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (36h, 1d12h, 90m) nor an ISO-8601 time"
        ) from None
    wait = at.astimezone(UTC) - datetime.now(UTC)
    if wait < timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is already past")
    return wait


def clock_deadline(until: Until | None, clock: Clock) -> float | None:
    """``until`` as a time on ``clock``: a `timedelta` from now, a `datetime` (its
    distance from the clock's wall time now; naive is UTC), or a clock time as it is.

    Raises:
        ConfigurationError: a time already past, or not a time (NaN).
    """
    if until is None:
        return None
    now = clock.now()
    if isinstance(until, timedelta):
        at = now + until.total_seconds()
    elif isinstance(until, datetime):
        moment = until if until.tzinfo is not None else until.replace(tzinfo=UTC)
        at = now + (moment - wall_clock(clock)()).total_seconds()
    else:
        at = float(until)
    if not at >= now:  # also refuses NaN
        raise ConfigurationError(f"until is already past (or not a time): {until!r}")
    return at

"""The retry hint of a refused call, wherever the upstream put it.

In order: the ``retry-after-ms`` header, the ``retry-after`` header (seconds or an HTTP
date), a ``retry_after`` field of the error body (or of its ``metadata``), then the
message's own words, in either phrasing OpenAI uses:

- "Please try again in 7.188s." / "in 6ms" / "in 1m2.5s" (a Go-style duration, as in its
  ``x-ratelimit-reset-*`` headers);
- "... please slow down and try again after 51.84 seconds." (gpt-image 429s).

A hint that is negative, not finite or unreadable is skipped; how long a hint may make a
request wait is capped by `imagegate.RetryPolicy` (``max_retry_after_s``).
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["DURATION", "retry_after_s", "stated_delay_s"]

DURATION: Final = r"((?:\d+(?:\.\d+)?\s*(?:ms|h|m|seconds?|secs?|s)(?![a-z])\s*)+)"
"""A duration as messages state it (``1m2.5s``, ``6ms``, ``51.84 seconds``), one group."""
_TRY_AGAIN: Final = re.compile(r"try again (?:in|after) " + DURATION, re.IGNORECASE)
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|h|m|seconds?|secs?|s)(?![a-z])", re.IGNORECASE)
_UNIT_S: Final = {"h": 3600.0, "m": 60.0, "ms": 0.001}
"""Seconds per unit of a duration part; any spelling of seconds is 1."""
_MESSAGE_SCAN: Final = 2000
"""Characters of an upstream message searched for a hint (the message is untrusted)."""
_HEADERS: Final = (("retry-after-ms", 0.001), ("retry-after", 1.0))
"""Header names and the unit of their number, in seconds; the first usable one wins."""


def retry_after_s(
    headers: Mapping[str, str] | None, body: Mapping[str, Any], message: str
) -> float | None:
    """``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), then a
    ``retry_after`` field, then "try again in 1m2.5s" / "try again after 51.84 seconds"
    in the message."""
    seconds = _from_headers(headers or {})
    if seconds is None:
        seconds = _from_body(body)
    if seconds is None:
        seconds = _from_message(message)
    return seconds


def _from_headers(headers: Mapping[str, str]) -> float | None:
    for name, scale in _HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        seconds = _header_seconds(value, scale)
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _header_seconds(value: str, scale: float) -> float:
    """A header's number of seconds; an HTTP date only in ``retry-after``; -1 if neither."""
    try:
        return float(value) * scale
    except ValueError:
        return _seconds_until(value) if scale == 1.0 else -1.0


def _seconds_until(http_date: str) -> float:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return -1.0
    return max(0.0, when.timestamp() - time.time())


def _from_body(body: Mapping[str, Any]) -> float | None:
    field = body.get("retry_after")
    metadata = body.get("metadata")
    if field is None and isinstance(metadata, Mapping):
        field = metadata.get("retry_after")
    if isinstance(field, int | float) and not isinstance(field, bool) and field >= 0:
        return float(field)
    return None


def _from_message(message: str) -> float | None:
    """The duration after "try again in|after" (``1m2.5s``, ``6ms``, ``51.84 seconds``)."""
    return stated_delay_s(_TRY_AGAIN, message)


def stated_delay_s(phrase: re.Pattern[str], message: str) -> float | None:
    """The `DURATION` that ``phrase`` (which ends with it) finds in the start of an
    untrusted ``message``, in seconds; None without one, or for one too large for a float."""
    found = phrase.search(message[:_MESSAGE_SCAN])
    if found is None:
        return None
    seconds = sum(
        float(value) * _UNIT_S.get(unit.lower(), 1.0)
        for value, unit in _PART.findall(found.group(1))
    )
    return seconds if math.isfinite(seconds) else None

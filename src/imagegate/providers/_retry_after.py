"""The retry hint of a refused call, wherever the upstream put it.

In order: the ``retry-after-ms`` header, the ``retry-after`` header (seconds or an HTTP
date), a ``retry_after`` field of the error body (or of its ``metadata``), then "try again
in 12s" in the message. A hint that is negative, not finite or unreadable is skipped.
"""

from __future__ import annotations

import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["retry_after_s"]

_TRY_AGAIN: Final = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)
_HEADERS: Final = (("retry-after-ms", 0.001), ("retry-after", 1.0))
"""Header names and the unit of their number, in seconds; the first usable one wins."""


def retry_after_s(
    headers: Mapping[str, str] | None, body: Mapping[str, Any], message: str
) -> float | None:
    """``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), then a
    ``retry_after`` field, then "try again in 12s" in the message."""
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
    found = _TRY_AGAIN.search(message)
    if found is None:
        return None
    value_s = float(found.group(1))
    return value_s / 1000 if found.group(2).lower() == "ms" else value_s

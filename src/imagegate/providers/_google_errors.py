"""How google-genai's ``APIError`` becomes an imagegate error, for Gemini on AI Studio
and on Vertex AI (see `map_api_error`)::

    429 + QuotaFailure per day         QuotaExhausted  reset_at = next midnight Pacific
                                         (on the wall time given, else the real one)
    429 otherwise                      RateLimited     retry_after_s = RetryInfo.retryDelay
    402                                QuotaExhausted  prepaid credits used up
    400 API_KEY_INVALID, 401, 403      AuthenticationError
    404                                InvalidRequestError(field="model")
    other 4xx                          InvalidRequestError
    503                                Overloaded
    408, 504                           DeadlineExceeded (server deadline, not billed)
    5xx with an HTML page              TransportError  (a proxy, not the API)
    other 5xx                          UpstreamError
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from google.genai import errors

from imagegate._request import Size
from imagegate.errors import (
    AuthenticationError,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.providers._retry_after import DURATION, stated_delay_s

__all__ = ["map_api_error", "next_quota_reset"]

_AUTH_REASONS: Final = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "ACCESS_TOKEN_EXPIRED"})
_BY_CODE: Final[Mapping[int, Callable[[str, dict[str, Any]], ImageGateError]]] = {
    404: lambda text, where: InvalidRequestError(text, field="model", **where),
    # The server gave up and says so: no output, no charge.
    408: lambda text, where: DeadlineExceeded(text, billing="not_billed", **where),
    504: lambda text, where: DeadlineExceeded(text, billing="not_billed", **where),
    503: lambda text, where: Overloaded(text, **where),
}
"""Statuses that map alone, once 429, 402 and authentication failures are ruled out."""

try:
    _QUOTA_TZ: tzinfo = ZoneInfo("America/Los_Angeles")
except ZoneInfoNotFoundError:  # pragma: no cover - no tz database (pip install tzdata)
    _QUOTA_TZ = timezone(timedelta(hours=-8), "PST")


def next_quota_reset(now: datetime | None = None) -> datetime:
    """When Google's daily quotas reset: the next midnight in America/Los_Angeles."""
    local = (now or datetime.now(_QUOTA_TZ)).astimezone(_QUOTA_TZ)
    return datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=_QUOTA_TZ)


def map_api_error(
    exc: errors.APIError, route: str, size: Size, *, now: datetime | None = None
) -> ImageGateError:
    """Turn google-genai's ``APIError`` into an imagegate error (see the module docstring).

    ``now`` is the wall time a daily quota's reset is counted from (the router's clock's
    `imagegate.resilience.wall_clock`, so it follows simulated time); None: the real time.
    """
    code, message, details = _error_parts(exc)
    text = f"{exc.status or ''} {message}".strip()
    where: dict[str, Any] = {"route": route, "size": size, "status": code}
    if _proxy_page(code, message):
        return TransportError(
            f"HTTP {code} answered by a proxy with an HTML page, not by the API",
            billing="possibly_billed", **where,
        )  # fmt: skip
    if code == 429:
        return _too_many_requests(details, text, message, where, now)
    if code == 402:
        return QuotaExhausted(text, scope="credits", **where)
    if code in (401, 403) or _error_reasons(details) & _AUTH_REASONS:
        return AuthenticationError(text, **where)
    by_code = _BY_CODE.get(code)
    if by_code is not None:
        return by_code(text, where)
    if 400 <= code < 500 and code != 499:
        return InvalidRequestError(text, **where)
    return UpstreamError(text, **where)


def _error_parts(exc: errors.APIError) -> tuple[int, str, list[Mapping[str, Any]]]:
    """The status code, the message and the ``details`` objects of Google's envelope."""
    body = exc.details if isinstance(exc.details, Mapping) else {}
    error = body.get("error") if isinstance(body.get("error"), Mapping) else body
    raw_details = error.get("details") if isinstance(error, Mapping) else None
    details = [d for d in _listed(raw_details) if isinstance(d, Mapping)]
    code = exc.code if isinstance(exc.code, int) and not isinstance(exc.code, bool) else 0
    return code, str(exc.message or exc.status or "no message"), details


def _listed(value: object) -> list[Any]:
    """``value`` when the answer put a list there, else nothing (answers are not trusted)."""
    return value if isinstance(value, list) else []


def _too_many_requests(
    details: list[Mapping[str, Any]],
    text: str,
    message: str,
    where: dict[str, Any],
    now: datetime | None,
) -> ImageGateError:
    """A 429: the daily quota (until the next Pacific midnight after ``now``), else a
    rate limit."""
    if not _per_day_quota(details):
        return RateLimited(text, retry_after_s=_retry_delay_s(details, message), **where)
    now = now or datetime.now(_QUOTA_TZ)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    reset = next_quota_reset(now)
    return QuotaExhausted(
        f"daily quota exhausted: {text}", reset_at=reset, scope="requests_per_day",
        retry_after_s=max(0.0, (reset - now).total_seconds()), **where,
    )  # fmt: skip


def _error_reasons(details: list[Mapping[str, Any]]) -> set[str]:
    return {str(d.get("reason", "")) for d in details if "ErrorInfo" in str(d.get("@type", ""))}


def _per_day_quota(details: list[Mapping[str, Any]]) -> bool:
    for detail in details:
        if not str(detail.get("@type", "")).endswith("QuotaFailure"):
            continue
        for violation in _listed(detail.get("violations")):
            if not isinstance(violation, Mapping):
                continue
            ident = f"{violation.get('quotaId', '')} {violation.get('quotaMetric', '')}"
            if re.search(r"per[ _-]?day", ident, re.IGNORECASE):
                return True
    return False


_DURATION: Final = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*s\s*$")
_RETRY_IN: Final = re.compile(r"retry in " + DURATION, re.IGNORECASE)


def _retry_delay_s(details: list[Mapping[str, Any]], message: str) -> float | None:
    """The message's "Please retry in 10.158753737s." where it agrees with RetryInfo's
    ``retryDelay`` (a proto Duration Gemini sends in whole seconds, ``"10s"``), else the
    ``retryDelay``, else the message's figure alone.

    Taking the whole seconds alone would retry up to a second early, and at once when
    the wait is under a second; a message that disagrees with RetryInfo by a second or
    more is not trusted over it.
    """
    stated = stated_delay_s(_RETRY_IN, message)
    for detail in details:
        if str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                delay = float(match.group(1))
                if stated is not None and 0 <= stated - delay < 1:
                    return stated
                return delay
    return stated


def _proxy_page(code: int, message: str) -> bool:
    """Whether a 5xx "message" is a page (a proxy answered), not Google's JSON envelope."""
    return code >= 500 and message.lstrip()[:1] == "<"

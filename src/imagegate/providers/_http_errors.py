"""HTTP statuses and error codes of OpenAI-style and FastAPI-style answers, mapped to
imagegate errors (see `map_status`).

The rules are a table tried in order, the first match winning: an error code found in
the body outranks the status it came with only where the table puts it first (an
``insufficient_quota`` 429 is out of credits, not rate limited).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from imagegate._request import Size
from imagegate.errors import (
    AuthenticationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.providers._retry_after import retry_after_s

__all__ = ["map_status"]

_MODERATION_CODES: Final = frozenset({"content_policy_violation", "moderation_blocked"})
_MODERATION_WORDS: Final = re.compile(r"moderat|flagged|guardrail", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class _Answer:
    """One error answer, as the rules read it."""

    status: int
    code: str
    message: str
    body: Mapping[str, Any]
    headers: Mapping[str, str] | None
    route: str
    size: Size

    @property
    def text(self) -> str:
        """The message, prefixed with the code unless it already names it."""
        if self.code and self.code not in self.message:
            return f"{self.code}: {self.message}"
        return self.message

    @property
    def where(self) -> dict[str, Any]:
        """Route, tier and status, as every mapped error carries them."""
        return {"route": self.route, "size": self.size, "status": self.status}

    def retry_after_s(self) -> float | None:
        """The upstream's retry hint (headers, body, then message)."""
        return retry_after_s(self.headers, self.body, self.message)


def _out_of_credits(a: _Answer) -> bool:
    kind = str(a.body.get("type") or "")
    return a.code == "insufficient_quota" or kind == "insufficient_quota" or a.status == 402


def _moderated(a: _Answer) -> bool:
    if a.code in _MODERATION_CODES:
        return True
    return a.status == 403 and _MODERATION_WORDS.search(a.message) is not None


def _content_blocked(a: _Answer) -> ImageGateError:
    moderation = a.body.get("moderation_details")
    stage = moderation.get("moderation_stage") if isinstance(moderation, Mapping) else None
    return ContentBlocked(
        a.text, stage="output" if stage == "output" else "prompt", reason=a.code or "moderation",
        **a.where,
    )  # fmt: skip


def _bad_param(a: _Answer) -> ImageGateError:
    param = a.body.get("param")
    return InvalidRequestError(a.text, field=param if isinstance(param, str) else None, **a.where)


_Rule = tuple[Callable[[_Answer], bool], Callable[[_Answer], ImageGateError]]

_RULES: Final[tuple[_Rule, ...]] = (
    (_out_of_credits, lambda a: QuotaExhausted(a.text, scope="credits", **a.where)),
    (
        lambda a: a.code == "billing_hard_limit_reached",
        lambda a: QuotaExhausted(a.text, scope="billing_limit", **a.where),
    ),
    (
        lambda a: a.status == 429 or a.code == "rate_limit_exceeded",
        lambda a: RateLimited(a.text, retry_after_s=a.retry_after_s(), **a.where),
    ),
    (_moderated, _content_blocked),
    (lambda a: a.status in (401, 403), lambda a: AuthenticationError(a.text, **a.where)),
    # The server gave up and says so: no output, no charge.
    (
        lambda a: a.status in (408, 504),
        lambda a: DeadlineExceeded(a.text, billing="not_billed", **a.where),
    ),
    (lambda a: a.status == 404, lambda a: InvalidRequestError(a.text, field="model", **a.where)),
    (lambda a: 400 <= a.status < 500, _bad_param),
    (
        lambda a: a.status == 503,
        lambda a: Overloaded(a.text, retry_after_s=a.retry_after_s(), **a.where),
    ),
)
"""(when, what) pairs, tried in order; `UpstreamError` when none matches."""


def map_status(
    status: int,
    *,
    code: str,
    message: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    route: str,
    size: Size,
    raw_text: str | None = None,
) -> ImageGateError:
    """Map an HTTP status (or an error ``code`` found inside a 200 body) and the error
    object of an OpenAI-style or FastAPI-style JSON body to an imagegate error::

        402, insufficient_quota           QuotaExhausted(scope="credits")
        billing_hard_limit_reached        QuotaExhausted(scope="billing_limit")
        429, rate_limit_exceeded          RateLimited (retry_after_s from the headers/body)
        content_policy_violation,         ContentBlocked (stage from moderation_details)
          moderation_blocked, 403 "moderation"
        401, 403                          AuthenticationError
        3xx                               TransportError (a redirect is not followed)
        408, 504                          DeadlineExceeded (not billed: the server gave up)
        404                               InvalidRequestError(field="model")
        other 4xx                         InvalidRequestError(field=param)
        503                               Overloaded
        5xx with an HTML page             TransportError (a proxy answered, not the API)
        other 5xx                         UpstreamError
    """
    answer = _Answer(status, code, message, body, headers, route, size)
    not_the_api = _not_the_api(status, raw_text)
    if not_the_api is not None:
        return TransportError(not_the_api, billing="possibly_billed", **answer.where)
    for applies, mapped in _RULES:
        if applies(answer):
            return mapped(answer)
    return UpstreamError(answer.text or f"HTTP {status}", **answer.where)


def _not_the_api(status: int, raw_text: str | None) -> str | None:
    """Why the answer did not come from the API itself (a proxy's page, a redirect)."""
    if status >= 500 and raw_text is not None and raw_text.lstrip()[:1] == "<":
        return f"HTTP {status} answered by a proxy with an HTML page, not by the API"
    if 300 <= status < 400:  # the key is not sent on to wherever it points
        return f"HTTP {status} redirect not followed: the key is not sent on"
    return None

"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

How imagegate's outcomes reach a client (the openai SDKs raise the class in brackets):

    ===================================  ======  ==========================================
    outcome                              status  type / code
    ===================================  ======  ==========================================
    no or unknown key                    401     invalid_request_error / invalid_api_key
                                                 (AuthenticationError)
    malformed body, bad field            400     invalid_request_error, param = the field
    InvalidRequestError                  400     invalid_request_error, param = its field
    ContentBlocked, blocked prompt       400     invalid_request_error / moderation_blocked
    unknown model                        404     invalid_request_error / model_not_found
    body above max_body_bytes            413     invalid_request_error / request_too_large
    client rpm                           429     rate_limit_exceeded (RateLimitError)
    client or router budget              429     insufficient_quota (RateLimitError)
    AllRoutesFailed                      503     server_error / all_routes_failed,
                                                 Retry-After when an upstream gave a hint
    deadline reached                     504     server_error / deadline_exceeded
    ===================================  ======  ==========================================

Messages are the gateway's own words: an upstream's text may echo the prompt, so it is
never passed on, and no message holds a key.
"""

from __future__ import annotations

import math
from typing import Final

from aiohttp import web

from imagegate.errors import (
    AllRoutesFailed,
    BudgetExceeded,
    ContentBlocked,
    ImageGateError,
    InvalidRequestError,
    ProviderError,
)

__all__ = ["error_response", "map_error"]

_SERVER_ERROR: Final = "server_error"
_INVALID: Final = "invalid_request_error"


def error_response(
    status: int,
    message: str,
    *,
    type: str = _INVALID,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A JSON error response in OpenAI's shape."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)


def map_error(exc: ImageGateError) -> web.Response:
    """The response for an error ``router.generate`` raised."""
    if isinstance(exc, InvalidRequestError):
        return error_response(400, _first_line(exc), param=exc.field)
    if isinstance(exc, ContentBlocked):
        return _blocked()
    if isinstance(exc, BudgetExceeded):
        return error_response(
            429,
            "the gateway's budget is spent",
            type="insufficient_quota",
            code="insufficient_quota",
        )
    if isinstance(exc, AllRoutesFailed):
        return _all_failed(exc)
    return error_response(
        502, "the image provider failed", type=_SERVER_ERROR, code="upstream_error"
    )


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:500]


def _blocked() -> web.Response:
    return error_response(
        400,
        "the request was refused by the image provider's safety system",
        code="moderation_blocked",
    )


def _all_failed(exc: AllRoutesFailed) -> web.Response:
    message = str(exc)
    attempts = len(exc.attempts)
    if message.startswith("the prompt was blocked") or (
        exc.errors and all(isinstance(e, ContentBlocked) for e in exc.errors)
    ):
        return _blocked()
    if message.startswith("deadline reached"):
        return error_response(
            504,
            f"the deadline was reached before an image came back ({attempts} attempt(s))",
            type=_SERVER_ERROR,
            code="deadline_exceeded",
        )
    if attempts == 0 and any("budget" in s for s in exc.skipped):
        return error_response(
            429,
            "the gateway's budget is spent",
            type="insufficient_quota",
            code="insufficient_quota",
        )
    hints = [
        e.retry_after_s
        for e in exc.errors
        if isinstance(e, ProviderError)
        and e.retry_after_s is not None
        and math.isfinite(e.retry_after_s)
    ]
    # An upstream's hint, bounded: it is untrusted, and a client should come back soon.
    headers = {"Retry-After": str(min(3600, max(1, math.ceil(max(hints)))))} if hints else None
    reason = "no route could take the request" if attempts == 0 else "every route failed"
    return error_response(
        503,
        f"no image: {reason} ({attempts} attempt(s))",
        type=_SERVER_ERROR,
        code="all_routes_failed",
        headers=headers,
    )

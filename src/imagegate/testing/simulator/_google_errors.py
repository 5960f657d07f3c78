"""Google's error envelope: auth failures, quota errors with QuotaFailure and RetryInfo.

Sent with ``Content-Type: application/json; charset=UTF-8``: google-genai only parses an
error body whose content type is JSON.
"""

from __future__ import annotations

from typing import Any, Final

from aiohttp import web

from imagegate.testing.simulator._core import Call, Reply, SimContext, json_reply

__all__ = ["GOOGLE_JSON", "check_auth", "google_error", "quota_error"]

GOOGLE_JSON: Final = "application/json; charset=UTF-8"

_RATE_DOCS: Final = "https://ai.google.dev/gemini-api/docs/rate-limits"

_FREE_MINUTE: Final = (
    (
        "generativelanguage.googleapis.com/generate_content_free_tier_input_token_count",
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
    ),
    (
        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
    ),
)
_FREE_DAY: Final = (
    "generativelanguage.googleapis.com/generate_content_free_tier_requests",
    "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
)
"""A free-tier key's 429 names every quota it broke, in this order: input tokens and
requests per minute, then requests per day (an image model's 429 recorded in
google-gemini/gemini-cli#8437; the message lines in continuedev/continue#9574)."""

_PAID_MINUTE: Final = (
    "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
    "GenerateRequestsPerMinutePerProjectPerModel",
)
_PAID_DAY: Final = (
    "generativelanguage.googleapis.com/generate_content_paid_tier_requests",
    "GenerateRequestsPerDayPerProjectPerModel",
)
"""A paid key's metric (``generate_content_paid_tier_*``, as paid-tier 429s quote it)."""

_SERVICE: Final = {
    "gemini": "generativelanguage.googleapis.com",
    "vertex": "aiplatform.googleapis.com",
}


def google_error(
    code: int, status: str, message: str, details: list[dict[str, Any]] | None = None
) -> Reply:
    """Google's JSON error envelope."""
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return json_reply(code, {"error": error}, content_type=GOOGLE_JSON)


def check_auth(
    ctx: SimContext, request: web.Request, provider: str, project: str | None
) -> Reply | None:
    """The auth error to send (Gemini: API key; Vertex: bearer token or express key)."""
    expected = ctx.keys[provider]
    key = request.headers.get("x-goog-api-key") or request.query.get("key")
    bearer = request.headers.get("Authorization", "")
    if provider == "vertex" and bearer.lower().startswith("bearer "):
        if bearer[7:].strip() == expected:
            return None
        return _unauthenticated(
            "Request had invalid authentication credentials. Expected OAuth 2 access token, "
            "login cookie or other valid authentication credential. See "
            "https://developers.google.com/identity/sign-in/web/devconsole-project.",
            "ACCESS_TOKEN_TYPE_UNSUPPORTED",
        )
    if key is None:
        if provider == "vertex":
            return _unauthenticated(
                "Request is missing required authentication credential. Expected OAuth 2 "
                "access token, login cookie or other valid authentication credential. See "
                "https://developers.google.com/identity/sign-in/web/devconsole-project.",
                "CREDENTIALS_MISSING",
            )
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Method doesn't allow unregistered callers (callers without established identity)."
            " Please use API Key or other form of API consumer identity to call this API.",
        )
    if key == expected:
        return None
    message = "API key not valid. Please pass a valid API key."
    return google_error(
        400,
        "INVALID_ARGUMENT",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": _SERVICE[provider]},
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
        ],
    )


def _unauthenticated(message: str, reason: str) -> Reply:
    return google_error(
        401,
        "UNAUTHENTICATED",
        message,
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "aiplatform.googleapis.com", "method": "Predict"},
            }
        ],
    )


def quota_error(call: Call, *, per_day: bool) -> Reply:
    """429 RESOURCE_EXHAUSTED: Gemini's with Help, QuotaFailure and RetryInfo (in that
    order), Vertex's plain.

    As recorded (continuedev/continue#11439, #9574; google-gemini/gemini-cli#8437): the
    message lists one "* Quota exceeded for metric" line per violation and ends "Please
    retry in 10.158753737s." (nanoseconds), while ``RetryInfo.retryDelay`` is whole
    seconds (``"10s"``). Vertex's 429 has no details at all
    (google-gemini/gemini-cli#14811).
    """
    ask = call.ask
    if ask.provider == "vertex":
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more "
            "details.",
        )
    broken = _violated(call, per_day=per_day)
    delay = call.retry_after_s
    lines = "".join(
        f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {ask.model}\n"
        for metric, _, limit in broken
    )
    message = (
        "You exceeded your current quota, please check your plan and billing details. For "
        f"more information on this error, head to: {_RATE_DOCS}. To monitor your current "
        f"usage, head to: https://ai.dev/rate-limit. \n{lines}Please retry in {delay:.9f}s."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_DOCS}],
        },
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": ask.model},
                    "quotaValue": str(limit),
                }
                for metric, quota_id, limit in broken
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{int(delay)}s"},
    ]
    return google_error(429, "RESOURCE_EXHAUSTED", message, details)


def _violated(call: Call, *, per_day: bool) -> list[tuple[str, str, int]]:
    """(metric, quota id, limit) of each quota the 429 names.

    A free-tier profile (one with a daily quota) names the per-minute pair, and the daily
    one when that is what ran out; a paid one names the single quota it hit.
    """
    profile = call.profile
    limit = call.verdict.limit if call.verdict is not None and call.verdict.limit else None
    day_limit = limit if per_day and limit else (profile.rpd or profile.ipd or 250)
    minute_limit = limit if not per_day and limit else (profile.rpm or profile.ipm or 20)
    if profile.rpd is None and profile.ipd is None:  # a paid key
        metric, quota_id = _PAID_DAY if per_day else _PAID_MINUTE
        return [(metric, quota_id, day_limit if per_day else minute_limit)]
    tokens, requests = _FREE_MINUTE
    broken = [(*tokens, 250_000), (*requests, minute_limit)]
    if per_day:
        broken.append((*_FREE_DAY, day_limit))
    return broken

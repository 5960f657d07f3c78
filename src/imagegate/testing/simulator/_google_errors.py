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

_METRICS: Final = {
    "day": (
        "generativelanguage.googleapis.com/generate_content_free_tier_requests",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ),
    "ipm": (
        "generativelanguage.googleapis.com/generate_content_images",
        "GenerateContentImagesPerMinutePerProjectPerModel",
    ),
    "rpm": (
        "generativelanguage.googleapis.com/generate_content_requests",
        "GenerateRequestsPerMinutePerProjectPerModel",
    ),
}
"""The quota metric and id Gemini names in a 429, per day or per minute (images or
requests)."""

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


def _duration(seconds: float) -> str:
    """A protobuf Duration string: ``"47s"``, ``"0.5s"``."""
    text = f"{seconds:.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def quota_error(call: Call, *, per_day: bool) -> Reply:
    """429 RESOURCE_EXHAUSTED: Gemini's with QuotaFailure + RetryInfo, Vertex's plain."""
    ask = call.ask
    if ask.provider == "vertex":
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Resource exhausted. Please try again later. Please refer to "
            "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more "
            "details.",
        )
    limit = _limit(call, per_day=per_day)
    metric, quota_id = _METRICS[_metric_name(call, per_day=per_day)]
    delay = call.retry_after_s
    message = (
        "You exceeded your current quota, please check your plan and billing details. For "
        f"more information on this error, head to: {_RATE_DOCS}. To monitor your current "
        "usage, head to: https://ai.dev/usage?tab=rate-limit. \n"
        f"* Quota exceeded for metric: {metric}, limit: {limit}, model: {ask.model}\n"
        f"Please retry in {delay:.6f}s."
    )
    details: list[dict[str, Any]] = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": metric,
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": ask.model},
                    "quotaValue": str(limit),
                }
            ],
        },
        {
            "@type": "type.googleapis.com/google.rpc.Help",
            "links": [{"description": "Learn more about Gemini API quotas", "url": _RATE_DOCS}],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": _duration(delay)},
    ]
    return google_error(429, "RESOURCE_EXHAUSTED", message, details)


def _limit(call: Call, *, per_day: bool) -> int:
    """The quota's value: the verdict's, else the profile's, else the free tier's."""
    if call.verdict is not None and call.verdict.limit:
        return call.verdict.limit
    profile = call.profile
    if per_day:
        return profile.rpd or profile.ipd or 250
    return profile.rpm or profile.ipm or 20


def _metric_name(call: Call, *, per_day: bool) -> str:
    if per_day:
        return "day"
    return "ipm" if call.verdict is not None and call.verdict.limit_name == "ipm" else "rpm"

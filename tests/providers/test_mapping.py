"""The pure mapping helpers: retry hints, status tables, the quota reset time, the
connection-failure classification, and registration of the built-in providers."""

from __future__ import annotations

import email.utils
import json
import subprocess
import sys
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import aiohttp
import openai
import pytest

from imagegate import providers
from imagegate.errors import (
    AuthenticationError,
    ContentBlocked,
    DeadlineExceeded,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.providers._google_errors import next_quota_reset
from imagegate.providers._http_errors import map_status
from imagegate.providers._httpx import sdk_httpx
from imagegate.providers._retry_after import retry_after_s
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error

LA = ZoneInfo("America/Los_Angeles")

httpx = sdk_httpx()  # httpx2 under openai 3, httpx under openai 2


@pytest.mark.parametrize(
    ("now", "reset"),
    [
        (datetime(2026, 1, 21, 10, 30, tzinfo=LA), datetime(2026, 1, 22, tzinfo=LA)),
        # 23:30 UTC on Jan 21 is still Jan 21 in Los Angeles.
        (datetime(2026, 1, 21, 23, 30, tzinfo=ZoneInfo("UTC")), datetime(2026, 1, 22, tzinfo=LA)),
        # The night the clocks go forward: midnight is still midnight (PDT afterwards).
        (datetime(2026, 3, 7, 22, 0, tzinfo=LA), datetime(2026, 3, 8, tzinfo=LA)),
        (datetime(2026, 11, 1, 12, 0, tzinfo=LA), datetime(2026, 11, 2, tzinfo=LA)),
    ],
)
def test_daily_quota_reset_is_pacific_midnight(now: datetime, reset: datetime) -> None:
    """The reset is the next midnight in America/Los_Angeles, across DST changes."""
    assert next_quota_reset(now) == reset
    assert next_quota_reset(now).utcoffset() == reset.utcoffset()


@pytest.mark.parametrize(
    ("headers", "body", "message", "expected"),
    [
        ({"retry-after-ms": "1500", "retry-after": "2"}, {}, "", 1.5),
        ({"retry-after": "2.25"}, {}, "", 2.25),
        ({}, {"retry_after": 5}, "", 5.0),
        ({}, {"metadata": {"retry_after": 7}}, "", 7.0),
        ({}, {}, "Please try again in 12.5s. Visit …", 12.5),
        ({}, {}, "Please try again in 120ms.", 0.12),
        # gpt-image-1 (receptron/mulmocast-cli issue #477)
        ({}, {}, "please slow down and try again after 51.84 seconds.", 51.84),
        # tokens per min (daveshap/Medical_Intake issue #9; abi/screenshot-to-code issue #76)
        ({}, {}, "Limit: 10000 / min. Please try again in 6ms. Contact us", 0.006),
        ({}, {}, "Used 6701, Requested 4497. Please try again in 7.188s.", 7.188),
        # Go-style durations, as OpenAI's x-ratelimit-reset-* headers write them ("6m0s")
        ({}, {}, "Please try again in 1m30s.", 90.0),
        ({}, {}, "Please try again in 1m2.5s.", 62.5),
        ({}, {}, "Please try again later.", None),
        ({"retry-after": "soon"}, {}, "", None),
        ({}, {}, "no hint at all", None),
    ],
)
def test_retry_hints(
    headers: dict[str, str], body: dict[str, object], message: str, expected: float | None
) -> None:
    """retry-after-ms wins over retry-after; body fields and the message are fallbacks."""
    assert retry_after_s(httpx.Headers(headers), body, message) == expected


def test_retry_after_http_date() -> None:
    """An HTTP-date ``retry-after`` is turned into the seconds until then."""
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    hint = retry_after_s(httpx.Headers({"retry-after": when}), {}, "")
    assert hint is not None
    assert 25 <= hint <= 31


@pytest.mark.parametrize(
    ("status", "code", "body", "error", "attrs"),
    [
        (429, "rate_limit_exceeded", {}, RateLimited, {"retryable": True}),
        (429, "insufficient_quota", {}, QuotaExhausted, {"scope": "credits", "retryable": False}),
        (400, "billing_hard_limit_reached", {}, QuotaExhausted, {"scope": "billing_limit"}),
        (402, "", {}, QuotaExhausted, {"scope": "credits"}),
        (400, "content_policy_violation", {}, ContentBlocked, {"stage": "prompt"}),
        (
            400,
            "moderation_blocked",
            {"moderation_details": {"moderation_stage": "output"}},
            ContentBlocked,
            {"stage": "output"},
        ),
        (401, "invalid_api_key", {}, AuthenticationError, {"retryable": False}),
        (403, "", {}, AuthenticationError, {}),
        (404, "model_not_found", {}, InvalidRequestError, {"field": "model"}),
        (400, "invalid_value", {"param": "size"}, InvalidRequestError, {"field": "size"}),
        (408, "", {}, DeadlineExceeded, {"billing": "not_billed"}),
        (504, "", {}, DeadlineExceeded, {"billing": "not_billed"}),
        (503, "", {}, Overloaded, {"retryable": True}),
        (500, "", {}, UpstreamError, {"retryable": True}),
        (502, "", {}, UpstreamError, {}),
    ],
)
def test_status_table(
    status: int, code: str, body: dict[str, object], error: type, attrs: dict[str, object]
) -> None:
    """Each status and error code maps to its class and flags."""
    mapped = map_status(
        status, code=code, message="m", body=body, headers=None, route="r/m", size="1K"
    )
    assert type(mapped) is error
    assert mapped.status == status
    for name, value in attrs.items():
        assert getattr(mapped, name) == value


def test_moderation_403_and_html_pages() -> None:
    """An aggregator's 403 for moderation is ContentBlocked; an HTML 5xx page is a proxy's."""
    blocked = map_status(
        403, code="", message="Your input was flagged by moderation", body={},
        headers=None, route="r/m", size="1K",
    )  # fmt: skip
    assert isinstance(blocked, ContentBlocked)
    page = map_status(
        502, code="", message="", body={}, headers=None, route="r/m", size="1K",
        raw_text="<html><body>Bad Gateway</body></html>",
    )  # fmt: skip
    assert isinstance(page, TransportError)
    assert page.billing == "possibly_billed"


def test_connection_failures_are_classified_by_their_root() -> None:
    """The innermost socket error decides, even under an SDK's misleading wrapper."""
    request = httpx.Request("POST", "http://127.0.0.1/x")
    refused = ConnectionRefusedError(111, "Connection refused")
    timeout_from_refusal = _chain(openai.APITimeoutError(request=request), refused)
    mapped = transport_error(timeout_from_refusal, route="r/m", size="1K")
    assert isinstance(mapped, TransportError)
    assert mapped.billing == "not_billed"
    reset = _chain(openai.APIConnectionError(request=request), ConnectionResetError(104, "reset"))
    mapped = transport_error(reset, route="r/m", size="1K")
    assert isinstance(mapped, TransportError)
    assert mapped.billing == "possibly_billed"
    read = _chain(httpx.ReadTimeout("slow"), aiohttp.SocketTimeoutError("read"))
    mapped = transport_error(read, route="r/m", size="1K")
    assert isinstance(mapped, DeadlineExceeded)
    assert mapped.billing == "possibly_billed"
    bad_json = json.JSONDecodeError("Expecting value", "<html>", 0)
    assert isinstance(transport_error(bad_json, route="r/m", size="1K"), TransportError)
    assert transport_error(KeyError("x"), route="r/m", size="1K") is None


def test_scrub_masks_registered_secrets_in_vendor_exceptions() -> None:
    """A registered key in an SDK exception's args, message and body is masked."""
    from imagegate._redact import register_secret

    register_secret("scrub-me-0b1c2d")
    response = httpx.Response(401, request=httpx.Request("GET", "http://h/"))
    body = {"message": "key scrub-me-0b1c2d rejected"}
    exc = openai.AuthenticationError("bad key scrub-me-0b1c2d", response=response, body=body)
    scrub(exc)
    assert "scrub-me-0b1c2d" not in str(exc)
    assert "scrub-me-0b1c2d" not in exc.message
    assert "scrub-me-0b1c2d" not in json.dumps(exc.body)


def test_registry_lists_every_builtin_provider() -> None:
    """The shared registry offers the five adapters plus the fake one."""
    names = {info.name for info in providers.registry.available()}
    assert names == {"fake", "gemini", "vertex", "openai", "openai_compatible", "flux"}
    for info in providers.registry.available():
        assert info.description
        assert info.distribution == "imagegate"


def test_loading_the_registry_imports_no_sdk() -> None:
    """Factories import their SDKs lazily: listing providers imports neither SDK."""
    code = (
        "import sys\n"
        "from imagegate.providers import registry\n"
        "registry.load()\n"
        "assert len(registry.available()) == 6\n"
        "print(sorted(m for m in ('openai', 'google.genai') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _chain(outer: BaseException, inner: BaseException) -> BaseException:
    outer.__cause__ = inner
    return outer

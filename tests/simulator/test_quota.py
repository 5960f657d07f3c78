"""Quota counters: per minute and per day, read against simulated time."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from imagegate.testing.simulator import Profile, QuotaVerdict, Scenario
from imagegate.testing.simulator._quota import QuotaBook

START = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)  # 02:00 Pacific
SCENARIO = Scenario(name="q", start=START, profiles=(Profile(provider="gemini"),))


def _admit(
    book: QuotaBook, profile: Profile, now: float, *, n: int = 1, model: str = "m"
) -> QuotaVerdict | None:
    return book.admit(profile, provider="gemini", model=model, n=n, now=now)


def test_daily_reset_is_midnight_pacific() -> None:
    """Second 0 is 02:00 Pacific, so the quota resets 22 hours later."""
    book = QuotaBook(SCENARIO)
    assert book.seconds_to_reset(0) == pytest.approx(22 * 3600)
    assert book.seconds_to_reset(22 * 3600 + 10) == pytest.approx(86400 - 10)


def test_images_per_day_until_the_reset() -> None:
    """Two images a day; the third waits for midnight Pacific, then passes."""
    profile = Profile(provider="gemini", ipd=2)
    book = QuotaBook(SCENARIO)
    assert _admit(book, profile, 0) is None
    assert _admit(book, profile, 100) is None
    verdict = _admit(book, profile, 200)
    assert verdict is not None
    assert (verdict.kind, verdict.limit_name, verdict.per_day) == ("quota_exhausted", "ipd", True)
    assert verdict.retry_after_s == pytest.approx(22 * 3600 - 200)
    assert _admit(book, profile, 200, model="other") is None
    assert _admit(book, profile, 22 * 3600 + 1) is None


def test_requests_per_minute_slide() -> None:
    """The sixth request in a minute waits until the oldest of the last five expires."""
    profile = Profile(provider="gemini", rpm=5)
    book = QuotaBook(SCENARIO)
    for second in range(5):
        assert _admit(book, profile, second * 10) is None
    verdict = _admit(book, profile, 45)
    assert verdict is not None
    assert (verdict.kind, verdict.limit_name) == ("rate_limited", "rpm")
    assert verdict.retry_after_s == pytest.approx(15)
    assert _admit(book, profile, 60.5) is None


def test_images_per_minute_weigh_n() -> None:
    """IPM counts images, so one request for 4 leaves room for 1 more of 5."""
    profile = Profile(provider="gemini", ipm=5)
    book = QuotaBook(SCENARIO)
    assert _admit(book, profile, 0, n=4) is None
    verdict = _admit(book, profile, 1, n=2)
    assert verdict is not None
    assert verdict.limit_name == "ipm"
    assert verdict.retry_after_s == pytest.approx(59)
    assert _admit(book, profile, 2, n=1) is None


def test_per_minute_limit_guards_an_exhausted_day() -> None:
    """Requests refused per day still count against the minute; per-minute refusals don't."""
    profile = Profile(provider="gemini", ipd=1, rpm=3)
    book = QuotaBook(SCENARIO)
    assert _admit(book, profile, 0) is None
    kinds = [v.kind if (v := _admit(book, profile, t)) else None for t in (1, 2, 3, 4)]
    assert kinds == ["quota_exhausted", "quota_exhausted", "rate_limited", "rate_limited"]


def test_concurrency_slots_are_released() -> None:
    """At most ``concurrent`` requests in flight; release frees a slot."""
    profile = Profile(provider="gemini", concurrent=1)
    book = QuotaBook(SCENARIO)
    assert _admit(book, profile, 0) is None
    verdict = _admit(book, profile, 0)
    assert verdict is not None
    assert verdict.limit_name == "concurrent"
    book.release(profile, provider="gemini", model="m")
    assert _admit(book, profile, 0) is None


def test_provider_scope_shares_one_counter() -> None:
    """``quota_scope = "provider"`` counts every model together."""
    profile = Profile(provider="gemini", rpd=1, quota_scope="provider")
    book = QuotaBook(SCENARIO)
    assert _admit(book, profile, 0, model="a") is None
    assert _admit(book, profile, 1, model="b") is not None

"""`RateLimiter`: GCRA per-minute limits, spacing, the daily quota and its reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagegate.resilience.clock import FakeClock
from imagegate.resilience.ratelimit import (
    RateBooking,
    RateLimit,
    RateLimiter,
    RateLimitState,
    RateReserve,
    quota_day,
)
from imagegate.state import MemoryState, apply_steps

from .conftest import EPOCH, wall_clock

# Most tests here check the bare GCRA maths, so they turn the safety margin off
# (margin_s=0); the margin has tests of its own at the end.
DAY_S = 86_400.0
TO_MIDNIGHT_S = 22 * 3600.0  # EPOCH is 02:00 in Los Angeles


def _limiter(clock: FakeClock, limit: RateLimit, **kwargs: object) -> RateLimiter:
    return RateLimiter("gemini", limit, clock=clock, wall_now=wall_clock(clock), **kwargs)  # type: ignore[arg-type]


async def _waits(limiter: RateLimiter, count: int, n: int = 1) -> list[float | None]:
    return [await limiter.reserve(n, max_wait_s=None) for _ in range(count)]


async def test_rpm_spreads_requests_evenly_by_default(clock: FakeClock) -> None:
    """rpm=6 with burst=1 starts one request every 10 s."""
    limiter = _limiter(clock, RateLimit(rpm=6, margin_s=0.0))
    assert await _waits(limiter, 3) == [0.0, 10.0, 20.0]
    clock.advance(25.0)
    assert await limiter.reserve(max_wait_s=None) == pytest.approx(5.0)


async def test_burst_lets_that_many_go_back_to_back(clock: FakeClock) -> None:
    """burst=3 admits three at once after an idle spell, then one per interval."""
    limiter = _limiter(clock, RateLimit(rpm=6, burst=3, margin_s=0.0))
    assert await _waits(limiter, 5) == [0.0, 0.0, 0.0, 10.0, 20.0]
    clock.advance(60.0)
    assert await _waits(limiter, 3) == [0.0, 0.0, 0.0]


async def test_a_wait_beyond_max_wait_books_nothing(clock: FakeClock) -> None:
    """reserve returns None when the wait exceeds max_wait_s, and the quota is untouched."""
    limiter = _limiter(clock, RateLimit(rpm=6, margin_s=0.0))
    assert await limiter.reserve(max_wait_s=0.0) == 0.0
    assert await limiter.reserve(max_wait_s=9.9) is None
    assert await limiter.reserve(max_wait_s=10.0) == 10.0
    stats = limiter.statistics()
    assert (stats.reserved, stats.refused) == (2, 1)


async def test_ipm_is_weighted_by_the_number_of_images(clock: FakeClock) -> None:
    """ipm=10: a four-image request pushes the next start back by four intervals."""
    limiter = _limiter(clock, RateLimit(ipm=10, margin_s=0.0))
    assert await limiter.reserve(4, max_wait_s=None) == 0.0
    assert await limiter.reserve(1, max_wait_s=None) == pytest.approx(24.0)
    assert limiter.quota_left().images_now == 0
    clock.advance(60.0)
    assert limiter.quota_left().images_now == 1


async def test_more_images_than_ipm_can_never_fit(clock: FakeClock) -> None:
    """A request for more images than ipm is refused outright."""
    limiter = _limiter(clock, RateLimit(ipm=3))
    assert await limiter.reserve(4, max_wait_s=None) is None
    assert await limiter.reserve(3, max_wait_s=None) == 0.0


async def test_min_interval_spaces_starts_whatever_n_is(clock: FakeClock) -> None:
    """min_interval_s counts requests, not images."""
    limiter = _limiter(clock, RateLimit(min_interval_s=7.0, margin_s=0.0))
    assert [await limiter.reserve(4, max_wait_s=None) for _ in range(3)] == [0.0, 7.0, 14.0]


async def test_the_latest_limit_decides_and_all_are_charged(clock: FakeClock) -> None:
    """With several limits the request waits for the slowest, and every limit is charged."""
    limiter = _limiter(clock, RateLimit(rpm=60, ipm=6, min_interval_s=2.0, margin_s=0.0))
    assert await limiter.reserve(2, max_wait_s=None) == 0.0
    # rpm allows t=1, spacing t=2, ipm (2 images · 10 s) t=20.
    assert await limiter.reserve(1, max_wait_s=None) == pytest.approx(20.0)
    # Now rpm is at t=21, spacing at t=22, ipm at t=30.
    assert await limiter.reserve(1, max_wait_s=None) == pytest.approx(30.0)


async def test_rpd_is_used_up_then_reset_at_los_angeles_midnight(clock: FakeClock) -> None:
    """rpd=2: the third request waits for midnight America/Los_Angeles, then it resets."""
    limiter = _limiter(clock, RateLimit(rpd=2))
    assert await _waits(limiter, 2) == [0.0, 0.0]
    assert await limiter.reserve(max_wait_s=3600.0) is None
    left = limiter.quota_left()
    assert (left.requests_today, left.exhausted) == (0, True)
    assert left.daily_reset_in_s == pytest.approx(TO_MIDNIGHT_S)
    clock.advance(TO_MIDNIGHT_S - 1.0)
    assert await limiter.reserve(max_wait_s=0.5) is None
    clock.advance(1.0)
    assert limiter.quota_left().requests_today == 2
    assert await limiter.reserve(max_wait_s=0.0) == 0.0


async def test_a_request_just_before_midnight_books_the_next_day(clock: FakeClock) -> None:
    """When today's rpd is gone but the reset is within max_wait_s, it waits and counts tomorrow."""
    limiter = _limiter(clock, RateLimit(rpd=1))
    await limiter.reserve(max_wait_s=None)
    clock.advance(TO_MIDNIGHT_S - 30.0)
    assert await limiter.reserve(max_wait_s=60.0) == pytest.approx(30.0)
    assert await limiter.reserve(max_wait_s=DAY_S) is None  # tomorrow's one is booked too
    clock.advance(30.0)
    assert limiter.quota_left().requests_today == 0


def test_quota_days_follow_daylight_saving_time() -> None:
    """LA days are 23 h when clocks spring forward and 25 h when they fall back."""
    zone = "America/Los_Angeles"
    spring = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 00:00 PST on the DST day
    fall = datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 00:00 PDT on the DST day
    assert quota_day(spring, zone)[1] == pytest.approx(23 * 3600)
    assert quota_day(fall, zone)[1] == pytest.approx(25 * 3600)
    summer = datetime(2026, 7, 1, 6, 59, tzinfo=UTC)  # 23:59 PDT
    day, reset_in_s = quota_day(summer, zone)
    assert reset_in_s == pytest.approx(60.0)
    assert quota_day(summer + timedelta(minutes=1), zone)[0] == day + 1
    assert quota_day(datetime(2026, 7, 1, 6, 59), zone) == (day, reset_in_s)  # naive = UTC


async def test_rpd_resets_after_a_23_hour_dst_day(clock: FakeClock) -> None:
    """On the spring-forward day the quota resets 23 h after local midnight, not 24 h."""
    start = datetime(2026, 3, 8, 8, 0, tzinfo=UTC)
    limiter = RateLimiter(
        "gemini", RateLimit(rpd=1), clock=clock, wall_now=wall_clock(clock, start)
    )
    await limiter.reserve(max_wait_s=None)
    clock.advance(23 * 3600 - 1.0)
    assert await limiter.reserve(max_wait_s=0.0) is None
    clock.advance(1.0)
    assert await limiter.reserve(max_wait_s=0.0) == 0.0


async def test_quota_exhausted_blocks_until_its_reset_time(clock: FakeClock) -> None:
    """mark_exhausted(reset_at=...) refuses everything until that wall-clock time."""
    limiter = _limiter(clock, RateLimit(rpm=60, margin_s=0.0))
    await limiter.mark_exhausted(reset_at=EPOCH + timedelta(minutes=10))
    assert limiter.quota_left().blocked_for_s == pytest.approx(600.0)
    assert limiter.quota_left().exhausted
    assert await limiter.reserve(max_wait_s=599.0) is None
    assert await limiter.reserve(max_wait_s=600.0) == pytest.approx(600.0)
    clock.advance(600.0)
    assert not limiter.quota_left().exhausted


@pytest.mark.parametrize("reset_at", [None, EPOCH - timedelta(hours=1)])
async def test_quota_exhausted_without_a_usable_reset_waits_for_midnight(
    clock: FakeClock, reset_at: datetime | None
) -> None:
    """Without reset_at, or with one already past, the block lasts until the daily reset."""
    limiter = _limiter(clock, RateLimit())
    await limiter.mark_exhausted(reset_at=reset_at)
    assert limiter.quota_left().blocked_for_s == pytest.approx(TO_MIDNIGHT_S)


async def test_a_naive_reset_at_is_taken_as_utc(clock: FakeClock) -> None:
    """reset_at without a zone is read as UTC."""
    limiter = _limiter(clock, RateLimit())
    await limiter.mark_exhausted(reset_at=datetime(2026, 1, 21, 10, 5))
    assert limiter.quota_left().blocked_for_s == pytest.approx(300.0)


async def test_limiters_sharing_a_backend_and_key_share_the_quota(clock: FakeClock) -> None:
    """Two limiters (two workers) on one backend and key draw from one quota."""
    backend = MemoryState()
    first = _limiter(clock, RateLimit(rpm=6, margin_s=0.0), backend=backend)
    second = _limiter(clock, RateLimit(rpm=6, margin_s=0.0), backend=backend)
    assert await first.reserve(max_wait_s=None) == 0.0
    assert await second.reserve(max_wait_s=None) == 10.0
    assert second.quota_left().requests_now == 0


async def test_estimate_wait_books_nothing(clock: FakeClock) -> None:
    """estimate_wait_s answers like reserve without changing the quota."""
    limiter = _limiter(clock, RateLimit(rpm=6, margin_s=0.0))
    await limiter.reserve(max_wait_s=None)
    assert limiter.estimate_wait_s() == 10.0
    assert limiter.estimate_wait_s() == 10.0
    assert limiter.estimate_wait_s(max_wait_s=5.0) is None


async def test_acquire_sleeps_the_wait_on_the_clock() -> None:
    """acquire reserves, then sleeps the wait on the injected clock."""
    async with FakeClock(autojump=True) as clock:
        limiter = _limiter(clock, RateLimit(rpm=6, margin_s=0.0))
        assert await limiter.acquire(max_wait_s=None)
        assert await limiter.acquire(max_wait_s=None)
        assert clock.now() == 10.0
        assert not await limiter.acquire(max_wait_s=1.0)
        assert clock.now() == 10.0


async def test_statistics_and_repr_show_the_quota_left(clock: FakeClock) -> None:
    """quota_left reports each limit; repr shows the live numbers."""
    limiter = _limiter(clock, RateLimit(rpm=2, burst=2, rpd=5))
    await limiter.reserve(max_wait_s=None)
    left = limiter.quota_left()
    assert (left.requests_now, left.requests_today, left.images_now) == (1, 4, None)
    assert left.next_start_in_s == 0.0
    assert repr(limiter).startswith("RateLimiter('gemini', RateLimit(rpm=2,")
    assert "requests_now=1, requests_today=4, blocked_for_s=0" in repr(limiter)
    assert RateLimit().unlimited
    assert not RateLimit(rpd=1).unlimited


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rpm": 0},
        {"ipm": -1},
        {"min_interval_s": 0.0},
        {"burst": 0},
        {"daily_reset": "Mars/Base"},
        {"margin_s": -0.5},
        {"margin_s": float("inf")},
    ],
)
def test_bad_limits_are_rejected(kwargs: dict[str, object]) -> None:
    """Non-positive limits and unknown zones raise ValueError."""
    with pytest.raises(ValueError, match=r"must|unknown time zone"):
        RateLimit(**kwargs)  # type: ignore[arg-type]


async def test_n_below_one_is_rejected(clock: FakeClock) -> None:
    """A request for zero images is a bug in the caller."""
    with pytest.raises(ValueError, match="n must be"):
        await _limiter(clock, RateLimit(rpm=1)).reserve(0, max_wait_s=None)


# Starts exactly one minute apart must not share a window because of float rounding.
_MINUTE = 60.0 - 1e-6
_arrivals = st.lists(st.tuples(st.floats(0, 30), st.integers(1, 4)), min_size=1, max_size=60)


@settings(max_examples=300)
@given(arrivals=_arrivals, rpm=st.integers(1, 30), max_wait=st.none() | st.floats(0, 120))
def test_no_60_s_window_ever_holds_more_than_rpm_starts(
    arrivals: list[tuple[float, int]], rpm: int, max_wait: float | None
) -> None:
    """With burst=1, the starts booked by reserve never put more than rpm in any minute."""
    op_limit = RateLimit(rpm=rpm, margin_s=0.0)
    state: RateLimitState | None = None
    now, starts = 0.0, []
    for gap, _ in arrivals:
        now += gap
        before = state
        state, wait = RateReserve(1, op_limit, 0, DAY_S, max_wait).apply(state, now)
        if wait is None:
            assert state == before  # refused: nothing booked
            continue
        assert wait >= 0
        assert max_wait is None or wait <= max_wait
        starts.append(now + wait)
    for first in starts:
        assert sum(first <= s < first + _MINUTE for s in starts) <= rpm


@settings(max_examples=300)
@given(arrivals=_arrivals, ipm=st.integers(4, 30))
def test_images_per_window_exceed_ipm_by_at_most_one_request(
    arrivals: list[tuple[float, int]], ipm: int
) -> None:
    """IPM: any minute holds at most ipm images plus the last request's extra images."""
    limit = RateLimit(ipm=ipm, margin_s=0.0)
    state: RateLimitState | None = None
    now, starts = 0.0, []
    for gap, n in arrivals:
        now += gap
        state, wait = RateReserve(n, limit, 0, DAY_S, None).apply(state, now)
        assert wait is not None
        starts.append((now + wait, n))
    for first, _ in starts:
        assert sum(n for s, n in starts if first <= s < first + _MINUTE) <= ipm + 3


# -- the safety margin ------------------------------------------------------------------


async def test_the_margin_widens_the_minute(clock: FakeClock) -> None:
    """margin_s=3: rpm=6 books 6 starts per 63 s and ipm=6 6 images per 63 s."""
    limiter = _limiter(clock, RateLimit(rpm=6, margin_s=3.0))
    assert await _waits(limiter, 3) == [0.0, 10.5, 21.0]
    images = _limiter(clock, RateLimit(ipm=6, margin_s=3.0))
    assert images.limit.image_interval_s == 10.5
    assert await _waits(images, 2, n=2) == [0.0, 21.0]


def test_the_default_margin_is_one_second() -> None:
    """Without margin_s, the minute is enforced as 61 s."""
    assert RateLimit().margin_s == 1.0
    assert RateLimit(rpm=61).request_interval_s == 1.0
    assert RateLimit(rpd=5).request_interval_s is None


async def test_no_request_starts_in_the_last_margin_of_a_quota_day(clock: FakeClock) -> None:
    """margin_s=2: a request 1.5 s before the reset waits for it and counts on the next
    day (it could arrive after midnight); 2.5 s before, it counts today."""
    limiter = _limiter(clock, RateLimit(rpd=5, margin_s=2.0))
    clock.advance(TO_MIDNIGHT_S - 2.5)
    assert await limiter.reserve(max_wait_s=10.0) == 0.0
    clock.advance(1.0)
    assert await limiter.reserve(max_wait_s=10.0) == pytest.approx(1.5)
    assert limiter.quota_left().requests_today == 4
    clock.advance(1.5)
    assert limiter.quota_left().requests_today == 4


_jitters = st.lists(st.floats(0, 1), min_size=60, max_size=60)


@settings(max_examples=300)
@given(
    arrivals=_arrivals,
    rpm=st.integers(1, 30),
    margin=st.sampled_from([0.5, 1.0, 3.0]),
    jitters=_jitters,
)
def test_arrivals_late_by_up_to_the_margin_keep_rpm_in_every_minute(
    arrivals: list[tuple[float, int]], rpm: int, margin: float, jitters: list[float]
) -> None:
    """Each booked start delayed by anything in [0, margin_s] (delivery jitter): no 60 s
    window of arrivals ever holds more than rpm (without the margin it can)."""
    limit = RateLimit(rpm=rpm, margin_s=margin)
    state: RateLimitState | None = None
    now, landed = 0.0, []
    for (gap, _), jitter in zip(arrivals, jitters, strict=False):
        now += gap
        state, wait = RateReserve(1, limit, 0, DAY_S, None).apply(state, now)
        assert wait is not None
        landed.append(now + wait + jitter * margin)
    for first in landed:
        assert sum(first <= t < first + _MINUTE for t in landed) <= rpm


def test_without_the_margin_jitter_can_put_one_too_many_in_a_minute() -> None:
    """The failure the margin prevents: rpm=2 bare, the first arrival 0.1 s late and the
    third on time puts 3 arrivals in one minute."""
    limit = RateLimit(rpm=2, margin_s=0.0)
    state: RateLimitState | None = None
    starts = []
    for _ in range(3):
        state, wait = RateReserve(1, limit, 0, DAY_S, None).apply(state, 0.0)
        assert wait is not None
        starts.append(wait)
    landed = [starts[0] + 0.1, starts[1], starts[2]]
    assert landed == [0.1, 30.0, 60.0]
    assert sum(0.1 <= t < 0.1 + _MINUTE for t in landed) == 3


# -- handing a booking back ----------------------------------------------------------------


async def _book(limiter: RateLimiter, n: int = 1, max_wait_s: float | None = None) -> RateBooking:
    (booking,) = await apply_steps([limiter.reserve_step(n, max_wait_s=max_wait_s)], now=0.0)
    assert isinstance(booking, RateBooking)
    return booking


async def test_a_booking_handed_back_frees_its_slot(clock: FakeClock) -> None:
    """unreserve undoes the latest booking: the next request starts where it would have."""
    limiter = _limiter(clock, RateLimit(rpm=6, ipm=6, margin_s=0.0))
    assert await limiter.reserve(max_wait_s=None) == 0.0
    booking = await _book(limiter, n=2)
    assert (booking.wait_s, booking.n) == (10.0, 2)
    assert await limiter.unreserve(booking)
    assert await limiter.reserve(2, max_wait_s=None) == 10.0
    assert await limiter.reserve(max_wait_s=None) == 30.0  # ipm: 2 images took 20 s


async def test_a_booking_with_a_later_one_after_it_is_kept(clock: FakeClock) -> None:
    """Once another booking came after it, undoing it could let a third start too early:
    unreserve answers False and the schedule stays."""
    limiter = _limiter(clock, RateLimit(rpm=6, margin_s=0.0))
    booking = await _book(limiter)
    assert await limiter.reserve(max_wait_s=None) == 10.0
    assert not await limiter.unreserve(booking)
    assert await limiter.reserve(max_wait_s=None) == 20.0
    assert limiter.statistics().reserved == 3


async def test_a_booking_handed_back_returns_its_request_to_the_day(clock: FakeClock) -> None:
    """rpd=1: a booking handed back gives today's request back; one booked on the next
    day (today used up) gives that one back."""
    limiter = _limiter(clock, RateLimit(rpd=1))
    today = await _book(limiter)
    assert await limiter.unreserve(today)
    assert limiter.quota_left().requests_today == 1
    await limiter.reserve(max_wait_s=None)
    clock.advance(TO_MIDNIGHT_S - 30.0)
    tomorrow = await _book(limiter, max_wait_s=60.0)
    assert tomorrow.wait_s == pytest.approx(30.0)
    assert await limiter.unreserve(tomorrow)
    clock.advance(30.0)
    assert limiter.quota_left().requests_today == 1


async def test_a_refused_booking_and_a_foreign_one_change_nothing(clock: FakeClock) -> None:
    """A step refused by max_wait_s answers None; a booking from another limiter (another
    id) is not undone."""
    backend = MemoryState()
    mine = _limiter(clock, RateLimit(rpm=6, margin_s=0.0), backend=backend)
    other = _limiter(clock, RateLimit(rpm=6, margin_s=0.0), backend=backend)
    booking = await _book(mine)
    (refused,) = await apply_steps([mine.reserve_step(max_wait_s=1.0)], now=0.0)
    assert refused is None
    assert mine.statistics().refused == 1
    assert not await other.unreserve(RateBooking(0.0, 1, "someone-else"))
    assert await other.unreserve(booking)  # the record, not the limiter, decides
    assert await mine.reserve(max_wait_s=None) == 0.0

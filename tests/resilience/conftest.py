"""Shared helpers for the resilience tests: a fake clock and a wall clock tied to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from _logcapture import captured_events
from imagegate.resilience.clock import FakeClock

# 2026-01-21 10:00 UTC is 02:00 in Los Angeles (PST, UTC-8): 22 h before the daily reset.
EPOCH = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)


def wall_clock(clock: FakeClock, epoch: datetime = EPOCH) -> Callable[[], datetime]:
    """A wall clock that reads ``epoch`` plus the fake clock's time."""
    return lambda: epoch + timedelta(seconds=clock.now())


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock at 0 that moves only when told."""
    return FakeClock()


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[MutableMapping[str, Any]]]:
    """Every imagegate event at debug level or above."""
    with captured_events() as captured:
        yield captured

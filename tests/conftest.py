"""Shared fixtures: a fake clock that jumps when every task is blocked, and a fake provider."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imagegate import FakeClock
from imagegate.testing import FakeProvider


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    """A FakeClock with autojump: scripted latencies cost no real time."""
    async with FakeClock(autojump=True) as fake_clock:
        yield fake_clock


@pytest.fixture
def fake(clock: FakeClock) -> FakeProvider:
    """A FakeProvider sleeping on the test's fake clock."""
    return FakeProvider(clock=clock)

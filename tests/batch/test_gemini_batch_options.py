"""The Batch API mode's options: ``until`` on the router's clock, and the settings
`GeminiBatch` refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from imagegate import Route, Router
from imagegate.batch import GeminiBatch
from imagegate.batch._until import clock_deadline
from imagegate.errors import ConfigurationError
from imagegate.providers.gemini import GeminiProvider
from imagegate.resilience.clock import FakeClock


def test_until_is_measured_on_the_routers_clock() -> None:
    """A timedelta counts from now on the clock; a time counts from the clock's wall time
    now (a naive one is UTC); none means no deadline."""
    clock = FakeClock(start=1000.0)
    assert clock_deadline(None, clock) is None
    assert clock_deadline(timedelta(hours=1), clock) == 4600.0
    soon = datetime.now(UTC) + timedelta(hours=2)
    assert clock_deadline(soon, clock) == pytest.approx(1000.0 + 7200.0, abs=5.0)
    naive = soon.replace(tzinfo=None)
    assert clock_deadline(naive, clock) == pytest.approx(1000.0 + 7200.0, abs=5.0)
    assert clock_deadline(2000.0, clock) == 2000.0
    simulated = FakeClock(start=1000.0, wall_start=datetime(2026, 1, 21, tzinfo=UTC))
    six_am = datetime(2026, 1, 21, 6, 0, tzinfo=UTC)  # on the clock's calendar, not today's
    assert clock_deadline(six_am, simulated) == 1000.0 + 6 * 3600.0
    for past in (
        999.0,
        float("nan"),
        timedelta(seconds=-1),
        datetime.now(UTC) - timedelta(minutes=5),
    ):
        with pytest.raises(ConfigurationError, match="already past"):
            clock_deadline(past, clock)


async def test_gemini_batch_refuses_bad_settings_and_routers_without_gemini() -> None:
    """Bad polling settings, a route that is not gemini/<model>, and a router with no
    gemini route are configuration errors naming the problem."""
    provider = GeminiProvider(api_key="k", base_url="http://127.0.0.1:9")
    try:
        with pytest.raises(ConfigurationError, match="poll_initial_s"):
            GeminiBatch(provider, "gemini-3-pro-image", poll_initial_s=0)
        assert "items_per_job=50" in repr(GeminiBatch(provider, "gemini-3-pro-image"))
    finally:
        await provider.aclose()
    vertex = Route("vertex", model="gemini-3-pro-image", base_url="http://127.0.0.1:9",
                   api_key="k")  # fmt: skip
    async with Router([vertex]) as router:
        with pytest.raises(ConfigurationError, match="gemini/<model>"):
            GeminiBatch.from_router(router, "vertex/gemini-3-pro-image")
        with pytest.raises(ConfigurationError, match="needs a gemini route"):
            GeminiBatch.from_router(router, "gemini/gemini-3-pro-image")

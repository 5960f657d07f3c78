"""FakeProvider: scripted outcomes, recorded calls."""

from __future__ import annotations

import anyio
import pytest

from imagegate import FakeClock, ProviderRequest
from imagegate.errors import Overloaded
from imagegate.testing import FakeProvider, fail, succeed


def _request(size: str = "1K", model: str = "m") -> ProviderRequest:
    return ProviderRequest(prompt="x", model=model, size=size)  # type: ignore[arg-type]


async def test_scripts_are_played_most_specific_first(clock: FakeClock, fake: FakeProvider) -> None:
    """(model, size) scripts win over size scripts, which win over the default."""
    fake.script("4K", succeed(size="2K"))
    fake.script("4K", fail(Overloaded("busy"), latency_s=3.0), model="special")
    with pytest.raises(Overloaded):
        await fake.generate(_request("4K", model="special"))
    assert clock.now() == 3.0
    response = await fake.generate(_request("4K", model="special"))
    assert response.images[0].size == "2K"
    assert response.size_ignored
    response = await fake.generate(_request("4K"))
    assert response.images[0].size == "4K"
    assert [c.result for c in fake.calls] == ["error", "success", "success"]


async def test_errors_are_fresh_copies(fake: FakeProvider) -> None:
    """Each call raises its own error object, so binding one does not change another."""
    fake.default = fail(Overloaded("busy"))
    with pytest.raises(Overloaded) as first:
        await fake.generate(_request())
    first.value.bind(route="r", size="1K")
    with pytest.raises(Overloaded) as second:
        await fake.generate(_request())
    assert second.value.route is None


async def test_cancelled_calls_are_recorded(clock: FakeClock, fake: FakeProvider) -> None:
    """A call cancelled during its latency is recorded as cancelled."""
    fake.default = succeed(latency_s=100.0)
    with anyio.move_on_after(1):  # real-time safety net; the clock jumps first
        async with anyio.create_task_group() as tg:
            tg.start_soon(fake.generate, _request())
            await clock.run_until_idle()
            tg.cancel_scope.cancel()
    assert fake.calls[0].result == "cancelled"


def test_exact_pixels() -> None:
    """width/height must come together."""
    with pytest.raises(ValueError, match="both"):
        succeed(width=100)

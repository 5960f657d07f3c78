"""A client's rpm counts on the gateway's clock, so its minute is tested without waiting
one out."""

from __future__ import annotations

import pytest

from gateway.conftest import gateway_config
from imagegate.gateway import Gateway, load_config
from imagegate.resilience.clock import FakeClock
from imagegate.testing.simulator import Simulator


async def test_a_clients_rpm_refills_with_the_gateway_clock(sim: Simulator) -> None:
    """Carol's rpm of 2 admits two requests, refuses the third with the wait until a slot
    frees (30.5 s: a request per (60 s + the limiter's 1 s margin) / 2), and admits one
    more once that much time has passed on the gateway's clock, not before."""
    clock = FakeClock()
    async with Gateway(load_config(gateway_config(sim)), clock=clock) as gateway:
        assert await gateway.admit("carol") is None
        assert await gateway.admit("carol") is None
        wait = await gateway.admit("carol")
        assert wait == pytest.approx(30.5)
        clock.advance(29.5)
        assert await gateway.admit("carol") == pytest.approx(1.0)
        clock.advance(1.0)
        assert await gateway.admit("carol") is None
        assert await gateway.admit("carol") is not None
        assert await gateway.admit("alice") is None  # no rpm: never refused

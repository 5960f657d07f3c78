"""The 2026-01-21 outage behind the gateway: 200 concurrent 4K requests through the async
openai SDK are answered as the library answers them."""

from __future__ import annotations

from gateway.bench_gateway import outage_through_gateway

# 1 simulated second = 10 ms: below that, a millisecond of CPU on this shared machine
# (decoding, base64, JSON for 200 requests at once) counts as simulated seconds and the
# figures measure the machine, not the routing.
TIME_SCALE = 0.01


async def test_outage_through_the_gateway() -> None:
    """At least 99.9% of 200 concurrent 4K requests get an image in the 600 s deadline."""
    figures = await outage_through_gateway(200, seed=0, time_scale=TIME_SCALE)
    assert figures["success"] / figures["requests"] >= 0.999
    assert sum(figures["sizes"].values()) == figures["success"]
    assert 0 < figures["cost_per_image_usd"] < 1

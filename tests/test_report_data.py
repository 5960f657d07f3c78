"""`health()`, `spend()` and `ImageResult` as data: JSON-ready dicts without float noise."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from imagegate import FakeClock, Route, Router
from imagegate.errors import Overloaded
from imagegate.resilience.ratelimit import RateLimit
from imagegate.testing import FakeProvider, fail, succeed


def _floats(value: Any) -> list[float]:
    if isinstance(value, float):
        return [value]
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return []


def _noiseless(value: float) -> bool:
    """At most six decimals, written without an exponent."""
    text = repr(value)
    return "e" not in text and len(text.partition(".")[2]) <= 6


async def test_spend_health_and_result_serialise_without_noise(clock: FakeClock) -> None:
    """Costs of 0.1, 0.2 and 0.7 cents add up to what they are; a 4K overload and a
    step down leave attempts, skipped options, a quota and latencies, all JSON-ready."""
    fake = FakeProvider(clock=clock)
    fake.script("4K", fail(Overloaded("busy"), latency_s=1.2345678))
    fake.script(
        "*", *(succeed(latency_s=0.1 * i, cost_usd=c) for i, c in enumerate((0.1, 0.2, 0.7), 1))
    )
    route = Route(fake, model="m", rate_limit=RateLimit(rpm=60))
    async with Router([route], clock=clock, seed=0, budget_usd=10.0) as router:
        result = await router.generate("p", size="4K")
        for i in range(2):
            await router.generate(f"q{i}", size="2K")
        spend, health = router.spend(), router.health()

    documents = [result.to_dict(), spend.to_dict(), *[h.to_dict() for h in health]]
    text = json.dumps(documents)
    assert json.loads(text) == documents
    floats = _floats(documents)
    assert floats
    assert [f for f in floats if not _noiseless(f)] == []
    assert spend.reserved_usd == 0.0
    assert spend.billed_usd == 1.0  # 0.1 + 0.2 + 0.7, not 0.9999999999999999
    assert spend.to_dict()["remaining_usd"] == 9.0
    assert result.to_dict()["attempts"][0]["error"]["type"] == "Overloaded"
    assert result.to_dict()["images"][0]["bytes"] == len(result.image.data)
    assert dataclasses.asdict(spend)["by_route"]["fake/m"]["attempts"] == 4
    assert any(h.to_dict()["quota"] is not None for h in health)

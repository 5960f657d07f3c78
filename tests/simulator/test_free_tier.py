"""The free-tier scenario end to end: 2 images a day, then 5 requests a minute."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google import genai
from google.genai import errors

from imagegate.testing.simulator import Simulator

GeminiFactory = Callable[..., genai.Client]


async def test_two_images_a_day_then_per_minute_limit(make_gemini: GeminiFactory) -> None:
    """Calls 1–2 succeed, 3–5 hit the daily quota, the 6th the 5-per-minute limit."""
    # 50 ms per simulated second: the six calls take well under the 60 s (3 s real) window.
    async with Simulator("free-tier", time_scale=0.05) as sim:
        client = make_gemini(sim)
        quota_ids: list[str] = []
        for i in range(6):
            if i < 2:
                await client.aio.models.generate_content(
                    model="gemini-2.5-flash-image", contents=f"cat {i} [sim:success~0]"
                )
                quota_ids.append("ok")
                continue
            with pytest.raises(errors.ClientError) as caught:
                await client.aio.models.generate_content(
                    model="gemini-2.5-flash-image", contents=f"cat {i} [sim:success~0]"
                )
            assert caught.value.code == 429
            details = caught.value.details["error"]["details"]
            failure = next(d for d in details if d["@type"].endswith("QuotaFailure"))
            quota_ids.append(failure["violations"][-1]["quotaId"])
            retry = next(d for d in details if d["@type"].endswith("RetryInfo"))
            delay = float(retry["retryDelay"].removesuffix("s"))
            assert 0 < delay <= (86400 if "PerDay" in quota_ids[-1] else 60)
        assert quota_ids[:2] == ["ok", "ok"]
        assert all("PerDay" in q for q in quota_ids[2:5])
        assert "PerMinute" in quota_ids[5]
        outcomes = [e.outcome for e in sim.events]
        assert outcomes == ["success"] * 2 + ["quota_exhausted"] * 3 + ["rate_limited"]
        assert [e.planned for e in sim.events] == ["success"] * 6
        assert [e.billed for e in sim.events] == [True, True, False, False, False, False]


async def test_quota_is_per_model(make_gemini: GeminiFactory) -> None:
    """Another model has its own two images a day."""
    async with Simulator("free-tier", time_scale=0.01) as sim:
        client = make_gemini(sim)
        for model in ("gemini-2.5-flash-image", "gemini-2.5-flash-image", "gemini-3-pro-image"):
            await client.aio.models.generate_content(model=model, contents="x [sim:success~0]")
        with pytest.raises(errors.ClientError):
            await client.aio.models.generate_content(
                model="gemini-2.5-flash-image", contents="x [sim:success~0]"
            )

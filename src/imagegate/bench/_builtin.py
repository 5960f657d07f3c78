"""Registers the built-in contenders (imported by `imagegate.bench`, so always done)."""

from __future__ import annotations

import functools

from imagegate.bench._contenders import ImagegateContender, register_contender
from imagegate.bench._field import BackoffClient, WaterfallClient, WaterfallRetryClient
from imagegate.bench._litellm import LiteLLMContender

__all__: list[str] = []


register_contender(
    "waterfall",
    WaterfallClient,
    "the size waterfall: AI Studio, 4K → 2K → 1K, one attempt each, 120 s timeout",
)
register_contender(
    "waterfall-retry",
    WaterfallRetryClient,
    "the waterfall with retries: AI Studio, per tier 3 attempts, 180 s timeout, sleeps 30 s, 60 s",
)
register_contender(
    "backoff",
    BackoffClient,
    "exponential backoff: AI Studio, 5 attempts at the requested tier, 2**k + U(0,1) s",
)
register_contender(
    "litellm",
    LiteLLMContender,
    "LiteLLM Router: one group per tier, fallbacks down the tiers then to the backup",
)
register_contender("imagegate", ImagegateContender, "imagegate Router, default policies")


def _preset(name: str) -> ImagegateContender:
    return ImagegateContender(f"imagegate-{name}", preset=name)


for _name in ("latency", "balanced", "quality"):
    register_contender(
        f"imagegate-{_name}",
        functools.partial(_preset, _name),
        f"imagegate Router with preset={_name!r} (not in the default list)",
    )

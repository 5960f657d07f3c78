"""imagegate: get images generated even while the image APIs behind them are failing.

    from imagegate import Route, Router

    async with Router(routes=[Route("gemini", model="gemini-3-pro-image")]) as router:
        result = await router.generate("a lighthouse at dusk", size="2K")
        result.image.save("lighthouse.png")

See docs/index.md for the whole picture.
"""

from __future__ import annotations

__version__ = "0.1.0"

from imagegate import errors, providers
from imagegate._provider import Capabilities, Provider, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, AspectRatio, ImageRequest, Size, pixels_for, tier_for_pixels
from imagegate._result import Attempt, GeneratedImage, ImageResult
from imagegate._route import Route
from imagegate._router import Router
from imagegate.errors import (
    AllRoutesFailed,
    BudgetExceeded,
    ConfigurationError,
    ImageGateError,
    InvalidRequestError,
    ProviderError,
)
from imagegate.providers import ProviderConfig
from imagegate.resilience.clock import Clock, FakeClock, LoopClock, ScaledClock

__all__ = [
    "SIZES",
    "AllRoutesFailed",
    "AspectRatio",
    "Attempt",
    "BudgetExceeded",
    "Capabilities",
    "Clock",
    "ConfigurationError",
    "FakeClock",
    "GeneratedImage",
    "ImageGateError",
    "ImageRequest",
    "ImageResult",
    "InvalidRequestError",
    "LoopClock",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderRequest",
    "ProviderResponse",
    "Route",
    "Router",
    "ScaledClock",
    "Size",
    "__version__",
    "errors",
    "pixels_for",
    "providers",
    "tier_for_pixels",
]

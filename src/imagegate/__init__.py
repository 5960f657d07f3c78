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
from imagegate._inputs import (
    MAX_INPUT_IMAGE_BYTES,
    MAX_INPUT_IMAGES,
    MAX_INPUT_TOTAL_BYTES,
    ImageInput,
)
from imagegate._provider import Capabilities, Provider, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, AspectRatio, ImageRequest, Size, pixels_for, tier_for_pixels
from imagegate._result import Attempt, GeneratedImage, ImageResult, SkippedOption
from imagegate._route import Route
from imagegate._router import BatchResult, RouteHealth, Router
from imagegate.errors import (
    AllRoutesFailed,
    BudgetExceeded,
    ConfigurationError,
    ImageGateError,
    InvalidRequestError,
    ProviderError,
)
from imagegate.providers import ProviderConfig
from imagegate.resilience import (
    AdmissionPolicy,
    AttemptTimeoutPolicy,
    BreakerPolicy,
    Clock,
    FakeClock,
    HedgePolicy,
    LoopClock,
    RateLimit,
    RetryPolicy,
    ScaledClock,
    Spend,
)

__all__ = [
    "MAX_INPUT_IMAGES",
    "MAX_INPUT_IMAGE_BYTES",
    "MAX_INPUT_TOTAL_BYTES",
    "SIZES",
    "AdmissionPolicy",
    "AllRoutesFailed",
    "AspectRatio",
    "Attempt",
    "AttemptTimeoutPolicy",
    "BatchResult",
    "BreakerPolicy",
    "BudgetExceeded",
    "Capabilities",
    "Clock",
    "ConfigurationError",
    "FakeClock",
    "GeneratedImage",
    "HedgePolicy",
    "ImageGateError",
    "ImageInput",
    "ImageRequest",
    "ImageResult",
    "InvalidRequestError",
    "LoopClock",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "ProviderRequest",
    "ProviderResponse",
    "RateLimit",
    "RetryPolicy",
    "Route",
    "RouteHealth",
    "Router",
    "ScaledClock",
    "Size",
    "SkippedOption",
    "Spend",
    "__version__",
    "errors",
    "pixels_for",
    "providers",
    "tier_for_pixels",
]

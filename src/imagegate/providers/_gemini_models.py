"""The Gemini image models: tiers, aspect ratios and list prices, per model family.

Kept apart from `imagegate.providers._google` so that adapters which only need the table
(``openai_compatible`` routing ``nano-banana-pro``) do not import google-genai.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from imagegate._request import SIZES, Size

__all__ = ["EXTENDED_RATIOS", "KNOWN_MODELS", "STANDARD_RATIOS", "GoogleModel", "google_model"]

STANDARD_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
)
"""Aspect ratios every Gemini image model accepts."""
EXTENDED_RATIOS: Final = STANDARD_RATIOS | {"1:4", "4:1", "1:8", "8:1"}
"""Gemini 3.1 Flash Image adds the extreme ratios."""


@dataclass(frozen=True, slots=True)
class GoogleModel:
    """What one Gemini image model family offers.

    Attributes:
        sizes: Tiers it can deliver (``imageSize``).
        aspect_ratios: Ratios it accepts (``aspectRatio``).
        price_usd: Public list price per image, per tier.
        sends_image_size: False for models that reject ``imageSize`` (2.5 Flash Image).
    """

    sizes: tuple[Size, ...]
    aspect_ratios: frozenset[str]
    price_usd: Mapping[Size, float]
    sends_image_size: bool = True


# Keyed by family prefix: "-preview" and dated variants share their family's entry.
# Prices: Google's public list prices (image output tokens), the same on AI Studio and
# Vertex AI; see docs/providers.md.
KNOWN_MODELS: Final[Mapping[str, GoogleModel]] = {
    "gemini-2.5-flash-image": GoogleModel(
        ("1K",), STANDARD_RATIOS, {"1K": 0.039}, sends_image_size=False
    ),
    "gemini-3-pro-image": GoogleModel(
        SIZES, STANDARD_RATIOS, {"1K": 0.134, "2K": 0.134, "4K": 0.24}
    ),
    "gemini-3.1-flash-image": GoogleModel(
        SIZES, EXTENDED_RATIOS, {"1K": 0.067, "2K": 0.101, "4K": 0.151}
    ),
}


def google_model(model: str, default_price_usd: float) -> GoogleModel:
    """The table entry for ``model``; unknown names get every tier at the platform price."""
    name = model.removeprefix("models/").rsplit("/", 1)[-1]
    for prefix in sorted(KNOWN_MODELS, key=len, reverse=True):
        if name.startswith(prefix):
            return KNOWN_MODELS[prefix]
    return GoogleModel(SIZES, STANDARD_RATIOS, dict.fromkeys(SIZES, default_price_usd))

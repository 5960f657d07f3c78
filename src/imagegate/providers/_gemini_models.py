"""The Gemini image models: tiers, aspect ratios and list prices, read from the catalogue
(`imagegate.providers._catalogue`, docs/catalogue.md).

Kept apart from `imagegate.providers._google` so that adapters which only need the table
(``openai_compatible`` routing ``nano-banana-pro``) do not import google-genai.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from imagegate._request import SIZES, Size
from imagegate.providers._catalogue import (
    Catalogue,
    Entry,
    InputLimits,
    active_catalogue,
    shipped_catalogue,
)

__all__ = ["EXTENDED_RATIOS", "KNOWN_MODELS", "STANDARD_RATIOS", "GoogleModel", "google_model"]

STANDARD_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"}
)
"""Aspect ratios every Gemini image model accepts."""
EXTENDED_RATIOS: Final = STANDARD_RATIOS | {"1:4", "4:1", "1:8", "8:1"}
"""Gemini 3.1 Flash Image and Nano Banana 2.1 add the extreme ratios."""


@dataclass(frozen=True, slots=True)
class GoogleModel:
    """What one Gemini image model offers, as imagegate requests it.

    Attributes:
        sizes: Tiers it can deliver (``imageSize``); a catalogue's ``512`` tier is listed
            there but not requested by imagegate yet.
        aspect_ratios: Ratios it accepts (``aspectRatio``).
        price_usd: Public list price per image, per tier.
        sends_image_size: False for models that reject ``imageSize`` (2.5 Flash Image).
        inputs: The input images it takes (edits, references); None for none known.
    """

    sizes: tuple[Size, ...]
    aspect_ratios: frozenset[str]
    price_usd: Mapping[Size, float]
    sends_image_size: bool = True
    inputs: InputLimits | None = None


def _from_entry(entry: Entry, default_price_usd: float) -> GoogleModel:
    sizes = tuple(s for s in SIZES if s in (entry.sizes or SIZES))
    listed = entry.price_usd or {}
    prices: dict[Size, float] = {s: listed.get(s, default_price_usd) for s in sizes}
    return GoogleModel(
        sizes=sizes,
        aspect_ratios=entry.aspect_ratios or STANDARD_RATIOS,
        price_usd=prices,
        sends_image_size=entry.sends_image_size is not False,
        inputs=entry.inputs,
    )


def google_model(model: str, default_price_usd: float) -> GoogleModel:
    """The catalogue's entry for ``model`` (by id, alias or the longest id it starts
    with); unknown names, and tiers the catalogue gives no price, get the platform price."""
    return _lookup(active_catalogue(), model, default_price_usd)


@functools.lru_cache(maxsize=256)
def _lookup(catalogue: Catalogue, model: str, default_price_usd: float) -> GoogleModel:
    # Called for every request (capabilities): one scan per catalogue, model and price.
    entry = catalogue.get(model, "google")
    if entry is None:
        return GoogleModel(SIZES, STANDARD_RATIOS, dict.fromkeys(SIZES, default_price_usd))
    return _from_entry(entry, default_price_usd)


KNOWN_MODELS: Final[Mapping[str, GoogleModel]] = {
    e.id: _from_entry(e, 0.0) for e in shipped_catalogue().entries if e.family == "google"
}
"""The Gemini entries of the shipped catalogue, by id (lookups read the catalogue in use
at call time: `google_model`)."""

"""The FLUX models: how each is sized and priced, and the fields of a submit body.

Pro models take ``width``/``height`` (multiples of 32 within 256–1440, so ~1 MP at most
2 MP: 1K only); FLUX.2 takes ``width``/``height`` up to 4 MP (1K and 2K); ultra and
kontext take ``aspect_ratio`` (ultra always renders ~4 MP, i.e. 2K).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from imagegate._request import SIZES, Size, parse_aspect_ratio, pixels_for
from imagegate._result import GeneratedImage
from imagegate.errors import ConfigurationError
from imagegate.providers._catalogue import (
    Catalogue,
    Entry,
    InputLimits,
    active_catalogue,
    shipped_catalogue,
)

__all__ = [
    "FLUX_RATIOS",
    "KNOWN_MODELS",
    "FluxModel",
    "Geometry",
    "body_options",
    "flux_model",
    "geometry",
    "input_images",
]

FLUX_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "9:21", "1:2", "2:1"}
)
"""Ratios every model reaches at its tiers (ultra and kontext: 21:9 … 9:21; pro models
keep ≥ 0.7 MP within 256–1440 px a side)."""

Geometry = Literal["pixels32", "pixels16", "ratio"]


@dataclass(frozen=True, slots=True)
class FluxModel:
    """How one FLUX model is sized and priced.

    Attributes:
        geometry: ``pixels32`` (``width``/``height``, multiples of 32, 256–1440),
            ``pixels16`` (FLUX.2: multiples of 16, up to 4 MP) or ``ratio``
            (``aspect_ratio`` only).
        sizes: Tiers it can deliver.
        price_usd: List price per image per tier (1 credit = $0.01), from the catalogue.
        max_safety: Highest ``safety_tolerance`` accepted.
        inputs: The input images it takes (``input_image``, ``input_image_2`` …); None
            for a text-to-image model.
    """

    geometry: Geometry
    sizes: tuple[Size, ...]
    price_usd: Mapping[Size, float]
    max_safety: int = 6
    inputs: InputLimits | None = None


def _from_entry(entry: Entry) -> FluxModel:
    sizes = tuple(s for s in SIZES if s in (entry.sizes or ("1K",)))
    listed = entry.price_usd or {}
    return FluxModel(
        geometry=entry.geometry or "pixels32",
        sizes=sizes,
        price_usd={s: listed[s] for s in sizes if s in listed},
        max_safety=6 if entry.max_safety is None else entry.max_safety,
        inputs=entry.inputs,
    )


KNOWN_MODELS: Final[Mapping[str, FluxModel]] = {
    e.id: _from_entry(e) for e in shipped_catalogue().entries if e.family == "bfl"
}
"""The FLUX entries of the shipped catalogue, by id (lookups read the catalogue in use at
call time: `flux_model`)."""

_PRO_MIN, _PRO_MAX = 256, 1440
_FLUX2_MAX_PIXELS: Final = 4_000_000
_OUTPUT_FORMATS: Final = frozenset({"jpeg", "png", "webp"})


def flux_model(model: str) -> FluxModel:
    """The catalogue's entry for ``model`` (the longest id it starts with, so
    ``-preview`` and ``-finetuned`` variants share their model's); unknown ``flux-2*``
    names size like FLUX.2 pro, other unknown names like FLUX1.1 [pro]."""
    return _lookup(active_catalogue(), model)


@functools.lru_cache(maxsize=256)
def _lookup(catalogue: Catalogue, model: str) -> FluxModel:
    # Called for every request (capabilities): one scan per catalogue and model.
    entry = catalogue.get(model, "bfl") or catalogue.get(
        "flux-2-pro" if model.startswith("flux-2") else "flux-pro-1.1", "bfl"
    )
    if entry is None:  # a catalogue override without FLUX entries
        return FluxModel("pixels32", ("1K",), {})
    return _from_entry(entry)


def geometry(spec: FluxModel, size: Size, aspect_ratio: str) -> dict[str, Any]:
    """``aspect_ratio``, or ``width``/``height`` within the model's limits."""
    if spec.geometry == "ratio":
        w, h = parse_aspect_ratio(aspect_ratio)
        return {"aspect_ratio": f"{w}:{h}"}
    multiple = 32 if spec.geometry == "pixels32" else 16
    width, height = pixels_for(size, aspect_ratio, multiple=multiple)
    if spec.geometry == "pixels32":
        shrink = min(1.0, _PRO_MAX / max(width, height))
    else:
        shrink = min(1.0, (_FLUX2_MAX_PIXELS / (width * height)) ** 0.5)
    if shrink < 1.0:
        width = int(width * shrink) // multiple * multiple
        height = int(height * shrink) // multiple * multiple
    if spec.geometry == "pixels32":
        width, height = (max(_PRO_MIN, min(_PRO_MAX, v)) for v in (width, height))
    return {"width": width, "height": height}


def input_images(images: Sequence[GeneratedImage]) -> dict[str, str]:
    """``input_image``, ``input_image_2`` … in order, each image's one base64 encoding."""
    return {
        "input_image" if number == 1 else f"input_image_{number}": image.base64()
        for number, image in enumerate(images, 1)
    }


def body_options(
    safety_tolerance: object, output_format: object, raw: object, prompt_upsampling: object
) -> dict[str, Any]:
    """The body fields a route sets (``safety_tolerance`` 0–6, ``output_format``, ``raw``,
    ``prompt_upsampling``), checked; None leaves a field to the API's default.

    Raises:
        ConfigurationError: a value of the wrong type or out of range.
    """
    options: dict[str, Any] = {}
    if safety_tolerance is not None:
        if not isinstance(safety_tolerance, int) or not 0 <= safety_tolerance <= 6:
            raise ConfigurationError("flux: safety_tolerance must be an integer from 0 to 6")
        options["safety_tolerance"] = safety_tolerance
    if output_format is not None:
        if output_format not in _OUTPUT_FORMATS:
            raise ConfigurationError(
                f"flux: output_format must be one of {sorted(_OUTPUT_FORMATS)}"
            )
        options["output_format"] = output_format
    for label, value in (("raw", raw), ("prompt_upsampling", prompt_upsampling)):
        if value is not None:
            if not isinstance(value, bool):
                raise ConfigurationError(f"flux: {label} must be true or false")
            options[label] = value
    return options

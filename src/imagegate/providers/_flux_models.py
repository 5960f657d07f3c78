"""The FLUX models: how each is sized and priced, and the fields of a submit body.

Pro models take ``width``/``height`` (multiples of 32 within 256–1440, so ~1 MP at most
2 MP: 1K only); FLUX.2 takes ``width``/``height`` up to 4 MP (1K and 2K); ultra and
kontext take ``aspect_ratio`` (ultra always renders ~4 MP, i.e. 2K).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from imagegate._request import Size, parse_aspect_ratio, pixels_for
from imagegate.errors import ConfigurationError

__all__ = [
    "FLUX_RATIOS",
    "KNOWN_MODELS",
    "FluxModel",
    "Geometry",
    "body_options",
    "flux_model",
    "geometry",
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
        price_usd: List price per image per tier (1 credit = $0.01).
        max_safety: Highest ``safety_tolerance`` accepted.
    """

    geometry: Geometry
    sizes: tuple[Size, ...]
    price_usd: Mapping[Size, float]
    max_safety: int = 6


def _flux2(first_mp: float, extra_mp: float) -> FluxModel:
    # 2K renders at 4 MP: the first megapixel plus three more.
    return FluxModel("pixels16", ("1K", "2K"), {"1K": first_mp, "2K": first_mp + 3 * extra_mp}, 5)


# Public list prices (docs.bfl.ai pricing); the longest matching prefix wins, so
# "-preview" and "-finetuned" variants share their model's entry.
KNOWN_MODELS: Final[Mapping[str, FluxModel]] = {
    "flux-pro-1.1-ultra": FluxModel("ratio", ("1K", "2K"), {"1K": 0.06, "2K": 0.06}),
    "flux-pro-1.1": FluxModel("pixels32", ("1K",), {"1K": 0.04}),
    "flux-pro": FluxModel("pixels32", ("1K",), {"1K": 0.05}),
    "flux-dev": FluxModel("pixels32", ("1K",), {"1K": 0.025}),
    "flux-kontext-pro": FluxModel("ratio", ("1K",), {"1K": 0.04}),
    "flux-kontext-max": FluxModel("ratio", ("1K",), {"1K": 0.08}),
    "flux-2-pro": _flux2(0.03, 0.015),
    "flux-2-max": _flux2(0.07, 0.03),
    "flux-2-flex": _flux2(0.05, 0.05),
    "flux-2-klein-4b": _flux2(0.014, 0.001),
    "flux-2-klein-9b": _flux2(0.015, 0.002),
}

_PRO_MIN, _PRO_MAX = 256, 1440
_FLUX2_MAX_PIXELS: Final = 4_000_000
_OUTPUT_FORMATS: Final = frozenset({"jpeg", "png", "webp"})


def flux_model(model: str) -> FluxModel:
    """The entry for ``model``; unknown ``flux-2*`` names size like FLUX.2 pro, other
    unknown names like FLUX1.1 [pro]."""
    for prefix in sorted(KNOWN_MODELS, key=len, reverse=True):
        if model.startswith(prefix):
            return KNOWN_MODELS[prefix]
    return KNOWN_MODELS["flux-2-pro" if model.startswith("flux-2") else "flux-pro-1.1"]


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

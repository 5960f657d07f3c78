"""OpenAI's Images API bodies, checked and turned into ``router.generate`` arguments.

``size`` may be OpenAI's ``"WxH"`` (the tier is the one the pixel count reaches, 1K at
least, and the aspect ratio the nearest common one unless ``aspect_ratio`` is given),
``"auto"`` (1K) or imagegate's ``"1K"``, ``"2K"``, ``"4K"``. ``response_format`` must be
``b64_json``: the gateway keeps no images to serve by URL. ``quality``, ``background``,
``moderation``, ``style``, ``user`` and the like are accepted and not passed on: each
route's provider options are set in the configuration. Any other field is refused, by
name, as OpenAI does.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from imagegate._request import Size
from imagegate._result import ImageResult
from imagegate._sizes import snap_aspect_ratio, tier_for_pixels

__all__ = ["BadField", "EditBody", "GenerationBody", "images_response", "parse"]

_PIXELS = re.compile(r"^(\d{2,5})x(\d{2,5})$")
_TIERS: dict[str, Size] = {"1K": "1K", "2K": "2K", "4K": "4K"}
_FORMATS = {"image/png": "png", "image/jpeg": "jpeg", "image/webp": "webp"}
Quality = Literal["auto", "low", "medium", "high", "xhigh", "max", "standard", "hd"]


class BadField(Exception):
    """A request field is missing or wrong; ``param`` names it."""

    def __init__(self, message: str, param: str | None) -> None:
        self.param = param
        super().__init__(message)


class GenerationBody(BaseModel):
    """``POST /v1/images/generations``: OpenAI's fields and imagegate's extras."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1)
    prompt: str = Field(min_length=1, max_length=32000)
    n: int = Field(default=1, ge=1, le=10)
    size: str | None = None
    quality: Quality | None = None
    response_format: Literal["b64_json", "url"] | None = None
    output_format: Literal["png", "jpeg", "webp"] | None = None
    output_compression: int | None = Field(default=None, ge=0, le=100)
    background: Literal["auto", "transparent", "opaque"] | None = None
    moderation: Literal["auto", "low"] | None = None
    style: Literal["vivid", "natural"] | None = None
    user: str | None = None
    aspect_ratio: str | None = None
    deadline: float | None = Field(default=None, gt=0, le=3600, allow_inf_nan=False)
    seed: int | None = None

    def arguments(self) -> dict[str, Any]:
        """The ``router.generate`` keyword arguments (without images)."""
        if self.response_format == "url":
            raise BadField(
                "response_format 'url' is not served by this gateway: use b64_json",
                "response_format",
            )
        size, aspect = _size(self.size)
        arguments: dict[str, Any] = {"size": size, "n": self.n, "seed": self.seed}
        if self.aspect_ratio is not None or aspect is not None:
            arguments["aspect_ratio"] = self.aspect_ratio or aspect
        if self.deadline is not None:
            arguments["deadline"] = self.deadline
        return arguments


class EditBody(GenerationBody):
    """``POST /v1/images/edits``'s form fields besides the files."""

    input_fidelity: Literal["low", "high"] | None = None


def parse(model: type[GenerationBody], data: Any) -> GenerationBody:
    """``data`` checked as ``model``; `BadField` names the first field at fault."""
    if not isinstance(data, dict):
        raise BadField("the body must be a JSON object", None)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        if first["type"] == "extra_forbidden":
            raise BadField(f"unknown parameter: '{param}'", param) from None
        raise BadField(f"invalid '{param}': {first['msg']}", param) from None


def _size(value: str | None) -> tuple[Size, str | None]:
    """(tier, aspect ratio or None) of OpenAI's or imagegate's ``size``."""
    if value is None or value == "auto":
        return "1K", None
    if value in _TIERS:
        return _TIERS[value], None
    match = _PIXELS.match(value)
    if match is None:
        raise BadField("size must be 'WxH', 'auto', '1K', '2K' or '4K'", "size")
    width, height = int(match[1]), int(match[2])
    if not (0 < width <= 16384 and 0 < height <= 16384):
        raise BadField("size must be at most 16384 pixels a side", "size")
    return tier_for_pixels(width, height) or "1K", snap_aspect_ratio(width, height)


def images_response(result: ImageResult) -> dict[str, Any]:
    """The body openai-python's ``ImagesResponse`` parses."""
    data: list[dict[str, Any]] = []
    revised = result.metadata.get("revised_prompt")
    for image in result.images:
        item: dict[str, Any] = {"b64_json": image.base64()}
        if isinstance(revised, str) and len(revised) <= 32000:
            item["revised_prompt"] = revised
        data.append(item)
    first = result.images[0]
    body: dict[str, Any] = {"created": int(time.time()), "data": data}
    if first.width and first.height:
        body["size"] = f"{first.width}x{first.height}"
    if first.mime_type in _FORMATS:
        body["output_format"] = _FORMATS[first.mime_type]
    return body

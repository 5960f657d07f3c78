"""Black Forest Labs request validation, as its FastAPI models do it, and prices.

Invalid inputs produce FastAPI's 422 ``detail`` items (``type``, ``loc``, ``msg``,
``input``, ``ctx``). Families by model id: ``*ultra*`` and ``*kontext*`` take an
``aspect_ratio`` (ultra ≈ 4 MP, kontext ≈ 1 MP); ``flux-2-*`` takes width/height in
multiples of 16 up to 4 MP; the others width/height in multiples of 32 within 256–1440.
"""

from __future__ import annotations

import math
from typing import Any, Final

from imagegate._request import parse_aspect_ratio, pixels_for

__all__ = ["credits_for", "issue", "parse_inputs"]

# Credits per image (1 credit = $0.01); FLUX.2 adds a price per extra megapixel.
_CREDITS: Final = {
    "flux-pro-1.1-ultra": 6.0,
    "flux-pro-1.1": 4.0,
    "flux-dev": 2.5,
    "flux-kontext-pro": 4.0,
    "flux-kontext-max": 8.0,
    "flux-pro-1.0-fill": 5.0,
    "flux-pro-1.0-expand": 5.0,
}

_FLUX2_CREDITS: Final = {
    "flux-2-pro": (3.0, 1.5),
    "flux-2-max": (7.0, 3.0),
    "flux-2-flex": (5.0, 5.0),
    "flux-2-klein-4b": (1.4, 0.1),
    "flux-2-klein-9b": (1.5, 0.2),
}


def issue(kind: str, field: str, message: str, value: Any, **context: Any) -> dict[str, Any]:
    """One FastAPI validation issue for a body field."""
    item = {"type": kind, "loc": ["body", field], "msg": message, "input": value}
    if context:
        item["ctx"] = context
    return item


def _int_field(
    body: dict[str, Any], name: str, default: int, *, low: int, high: int, multiple: int = 1
) -> tuple[int, list[dict[str, Any]]]:
    value = body.get(name, default)
    if value is None:
        value = default
    if not isinstance(value, int) or isinstance(value, bool):
        return default, [issue("int_type", name, "Input should be a valid integer", value)]
    if value % multiple:
        message = f"Input should be a multiple of {multiple}"
        return value, [issue("multiple_of", name, message, value, multiple_of=multiple)]
    if value < low:
        message = f"Input should be greater than or equal to {low}"
        return value, [issue("greater_than_equal", name, message, value, ge=low)]
    if value > high:
        message = f"Input should be less than or equal to {high}"
        return value, [issue("less_than_equal", name, message, value, le=high)]
    return value, []


def parse_inputs(model: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Validate like BFL's FastAPI models; returns the options and the 422 issues."""
    kontext = "kontext" in model
    prompt = body.get("prompt", "")
    issues = _prompt_issues(body, prompt, required=kontext)
    high = 5 if model.startswith("flux-2") else 6
    issues += _int_field(body, "safety_tolerance", 2, low=0, high=high)[1]
    fmt = body.get("output_format") or ("png" if kontext else "jpeg")
    if fmt not in ("jpeg", "png", "webp"):
        issues.append(
            issue(
                "enum",
                "output_format",
                "Input should be 'jpeg', 'png' or 'webp'",
                fmt,
                expected="'jpeg', 'png' or 'webp'",
            )
        )
    width, height, size_issues = _dimensions(model, body)
    issues += size_issues
    seed = body.get("seed")
    options = {
        "prompt": prompt if isinstance(prompt, str) else "",
        "width": width,
        "height": height,
        "fmt": "png" if fmt == "png" else "jpeg",
        "seed": seed if isinstance(seed, int) else None,
    }
    return options, issues


def _prompt_issues(body: dict[str, Any], prompt: object, *, required: bool) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    if required and "prompt" not in body:
        issues.append(
            {"type": "missing", "loc": ["body", "prompt"], "msg": "Field required", "input": body}
        )
    if prompt is not None and not isinstance(prompt, str):
        issues.append(issue("string_type", "prompt", "Input should be a valid string", prompt))
    return issues


def _dimensions(model: str, body: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """Width, height and their issues: from ``aspect_ratio`` (ultra, kontext), or the
    ``width``/``height`` fields within the family's limits."""
    if "ultra" in model or "kontext" in model:
        return _ratio_dimensions(model, body)
    if model.startswith("flux-2"):
        return _flux2_dimensions(body)
    width, w_issues = _int_field(body, "width", 1024, low=256, high=1440, multiple=32)
    height, h_issues = _int_field(body, "height", 768, low=256, high=1440, multiple=32)
    return width, height, w_issues + h_issues


def _ratio_dimensions(model: str, body: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """Ultra renders ~4 MP, kontext ~1 MP, at a ratio within 21:9 … 9:21."""
    ultra = "ultra" in model
    ratio = body.get("aspect_ratio") or ("16:9" if ultra else "1:1")
    try:
        w, h = parse_aspect_ratio(str(ratio))
        if not 9 / 21 <= w / h <= 21 / 9:
            raise ValueError(ratio)
        width, height = pixels_for("2K" if ultra else "1K", f"{w}:{h}")
    except ValueError:
        message = "Value error, Aspect ratio must be between 21:9 and 9:21"
        return 1024, 1024, [issue("value_error", "aspect_ratio", message, ratio)]
    return width, height, []


def _flux2_dimensions(body: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """Multiples of 16 up to 4096 a side (0: 1024), at least 64 and at most 4 MP."""
    width, w_issues = _int_field(body, "width", 0, low=0, high=4096, multiple=16)
    height, h_issues = _int_field(body, "height", 0, low=0, high=4096, multiple=16)
    issues = w_issues + h_issues
    width, height = width or 1024, height or 1024
    if not issues and (min(width, height) < 64 or width * height > 4_194_304):
        message = (
            "Value error, width and height must be at least 64 and at most 4 megapixels together"
        )
        issues.append(issue("value_error", "width", message, width))
    return width, height, issues


def credits_for(model: str, megapixels: float, price_usd: float | None) -> float:
    """Credits (1 credit = $0.01) a task costs; a profile's ``price_usd`` wins."""
    if price_usd is not None:
        return round(price_usd * 100, 2)
    if model in _FLUX2_CREDITS:
        first, extra = _FLUX2_CREDITS[model]
        return round(first + max(0.0, math.ceil(megapixels) - 1) * extra, 2)
    for prefix, price in _CREDITS.items():
        if model.startswith(prefix):
            return price
    return 5.0

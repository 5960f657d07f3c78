"""OpenAI Images request rules per model family, and OpenAI's error body.

Families by model id: ``dall-e-2``, ``dall-e-3``, ``gpt-image-1`` (also ``-1-mini``,
``-1.5`` and ``chatgpt-image-*``), and ``gpt-image-2`` for anything newer or unknown.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Final

from imagegate.testing.simulator._core import Ask, Reply, json_reply
from imagegate.testing.simulator._media import ratio_of, size_of_pixels

__all__ = ["invalid", "openai_error", "parse_wxh", "validate"]

_WXH: Final = re.compile(r"(\d{1,5})x(\d{1,5})")

_FIXED_SIZES: Final = {
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
}

_QUALITIES: Final = {
    "dall-e-2": ("standard",),
    "dall-e-3": ("standard", "hd"),
    "gpt-image-1": ("low", "medium", "high", "auto"),
    "gpt-image-2": ("low", "medium", "high", "auto", "xhigh", "max"),
}


def parse_wxh(value: str) -> tuple[int, int] | None:
    """``"1536x1024"`` → (1536, 1024); None if it is not WxH."""
    match = _WXH.fullmatch(value)
    return (int(match[1]), int(match[2])) if match else None


def _family(model: str) -> str:
    if model.startswith("dall-e-2"):
        return "dall-e-2"
    if model.startswith("dall-e-3"):
        return "dall-e-3"
    if fnmatch.fnmatchcase(model, "gpt-image-1*") or model.startswith("chatgpt-image"):
        return "gpt-image-1"
    return "gpt-image-2"


def openai_error(
    status: int,
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> Reply:
    """OpenAI's ``{"error": {message, type, param, code}}`` reply."""
    error: dict[str, Any] = {"message": message, "type": kind, "param": param, "code": code}
    error.update(extra or {})
    return json_reply(status, {"error": error}, headers=headers)


def invalid(message: str, param: str | None, code: str = "invalid_value") -> Reply:
    """A 400 invalid_request_error about ``param``."""
    return openai_error(400, message, "invalid_request_error", param=param, code=code)


def validate(body: dict[str, Any]) -> tuple[Ask | None, Reply | None, dict[str, Any]]:
    """Check the body against the model's rules; returns the ask or the 400 to send."""
    model = str(body.get("model") or "dall-e-2")
    family = _family(model)
    raw_prompt = body.get("prompt")
    prompt = raw_prompt if isinstance(raw_prompt, str) else ""
    partial = Ask("openai", model, "1K", "1:1", 1, prompt)
    n = body.get("n", 1)
    asked = _asked(body, family)
    pixels = _pixels_for_family(family, asked["size"])
    problem = _problem(prompt, n, family, asked, pixels)
    if problem is not None or pixels is None:
        return partial, problem, {}
    width, height = pixels
    ask = Ask("openai", model, size_of_pixels(width, height), ratio_of(width, height), n, prompt)
    default_format = "url" if family.startswith("dall-e") else "b64_json"
    options = {
        "family": family,
        "width": width,
        "height": height,
        "size": asked["size"],
        "quality": asked["quality"],
        "response_format": asked["response_format"] or default_format,
        "output_format": asked["output_format"],
        "background": body.get("background") or "opaque",
    }
    return ask, None, options


def _problem(
    prompt: str,
    n: object,
    family: str,
    asked: dict[str, Any],
    pixels: tuple[int, int] | None,
) -> Reply | None:
    """The first rule broken, in the order the API checks them: prompt, ``n``, size,
    quality, response format, output format."""
    return (
        _prompt_problem(prompt)
        or _n_problem(n, family)
        or (_size_problem(family, asked["size"]) if pixels is None else None)
        or _quality_problem(family, asked["quality"])
        or _response_format_problem(asked["response_format"], family=family)
        or _output_format_problem(asked["output_format"])
    )


def _asked(body: dict[str, Any], family: str) -> dict[str, Any]:
    """``size``, ``quality``, ``response_format`` and ``output_format`` as asked, with the
    family's defaults (``response_format`` stays None when not given)."""
    dalle = family.startswith("dall-e")
    return {
        "size": str(body.get("size") or ("1024x1024" if dalle else "auto")),
        "quality": str(body.get("quality") or ("standard" if dalle else "auto")),
        "response_format": body.get("response_format"),
        "output_format": str(body.get("output_format") or "png"),
    }


def _prompt_problem(prompt: str) -> Reply | None:
    if prompt:
        return None
    return invalid("Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter")


def _n_problem(n: object, family: str) -> Reply | None:
    top = 1 if family == "dall-e-3" else 10
    if isinstance(n, int) and 1 <= n <= top:
        return None
    return invalid(
        f"Invalid 'n': integer above maximum value. Expected a value <= {top}, but got "
        f"{n} instead.",
        "n",
        "integer_above_max_value",
    )


def _size_problem(family: str, size: str) -> Reply:
    allowed = _FIXED_SIZES.get(family)
    hint = (
        "Supported values are: " + ", ".join(f"'{s}'" for s in allowed) + "."
        if allowed
        else "Width and height must be multiples of 16, at most 3840x2160 pixels, with a "
        "ratio within 3:1."
    )
    return invalid(f"Invalid value: '{size}'. {hint}", "size")


def _quality_problem(family: str, quality: str) -> Reply | None:
    if quality in _QUALITIES[family]:
        return None
    return invalid(
        f"Invalid value: '{quality}'. Supported values are: "
        + ", ".join(f"'{q}'" for q in _QUALITIES[family])
        + ".",
        "quality",
    )


def _response_format_problem(response_format: object, *, family: str) -> Reply | None:
    """gpt-image models always answer base64 and reject the field; dall-e takes two."""
    if response_format is not None and not family.startswith("dall-e"):
        return invalid(
            "Unknown parameter: 'response_format'.", "response_format", "unknown_parameter"
        )
    if response_format not in (None, "url", "b64_json"):
        return invalid(
            f"Invalid value: '{response_format}'. Supported values are: 'url' and 'b64_json'.",
            "response_format",
        )
    return None


def _output_format_problem(output_format: str) -> Reply | None:
    if output_format in ("png", "jpeg", "webp"):
        return None
    return invalid(f"Invalid value: '{output_format}'.", "output_format")


def _pixels_for_family(family: str, size: str) -> tuple[int, int] | None:
    allowed = _FIXED_SIZES.get(family)
    if allowed is not None:
        if size not in allowed:
            return None
        return (1024, 1024) if size == "auto" else parse_wxh(size)
    if size == "auto":
        return 1024, 1024
    pixels = parse_wxh(size)
    if pixels is None or not _flexible_size(*pixels):
        return None
    return pixels


def _flexible_size(width: int, height: int) -> bool:
    """gpt-image-2 and later: multiples of 16, 16 … 3840 a side, at most 3840×2160 pixels,
    a ratio within 3:1."""
    return not (
        width % 16
        or height % 16
        or min(width, height) < 16
        or max(width, height) > 3840
        or width * height > 3840 * 2160
        or max(width, height) > 3 * min(width, height)
    )

"""Pixel sizes each provider delivers, and the encoded images (cached)."""

from __future__ import annotations

import base64
import fnmatch
import functools
import math
import struct
from typing import Final, Literal

from imagegate._request import Size, parse_aspect_ratio, pixels_for, tier_for_pixels
from imagegate.testing._images import Payload, make_jpeg, make_png

__all__ = [
    "ImageFormat",
    "encoded",
    "encoded_b64",
    "gemini_pixels",
    "make_webp",
    "ratio_of",
    "shrunk",
    "size_of_pixels",
]

ImageFormat = Literal["png", "jpeg", "webp"]

_MULTIPLIER: Final[dict[Size, int]] = {"1K": 1, "2K": 2, "4K": 4}
# Gemini 2.5 Flash Image at 1K (Google's table, as OpenRouter's docs repeat it).
_GEMINI_25: Final = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
# Gemini 3 Pro Image at 1K; 2K and 4K double and quadruple each side.
_GEMINI_3: Final = {
    "1:1": (1024, 1024),
    "2:3": (848, 1264),
    "3:2": (1264, 848),
    "3:4": (896, 1200),
    "4:3": (1200, 896),
    "4:5": (928, 1152),
    "5:4": (1152, 928),
    "9:16": (768, 1376),
    "16:9": (1376, 768),
    "21:9": (1584, 672),
}
# Models that only generate at 1K and silently ignore imageSize.
_ONLY_1K: Final = ("*gemini-2.5-flash-image*", "*nano-banana")


def only_1k(model: str) -> bool:
    """Whether a Gemini model ignores ``imageSize`` (2.5 Flash Image renders 1K only)."""
    return any(fnmatch.fnmatchcase(model, pattern) for pattern in _ONLY_1K)


def gemini_pixels(model: str, size: Size, aspect_ratio: str) -> tuple[int, int]:
    """The (width, height) a Gemini image model returns for a tier and aspect ratio.

    Ratios outside Google's tables fall back to `pixels_for` in multiples of 16.
    """
    if only_1k(model):
        return _GEMINI_25.get(aspect_ratio) or pixels_for("1K", aspect_ratio, multiple=16)
    base = _GEMINI_3.get(aspect_ratio)
    if base is None:
        return pixels_for(size, aspect_ratio, multiple=16)
    factor = _MULTIPLIER[size]
    return base[0] * factor, base[1] * factor


def ratio_of(width: int, height: int) -> str:
    """``"W:H"`` in lowest terms (``1536, 1024`` → ``"3:2"``)."""
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"


def shrunk(width: int, height: int, size: Size) -> tuple[int, int]:
    """What a provider that ignores the requested size delivers instead.

    The next tier down at the same shape; below 1K, half of each side.
    """
    smaller: Size | None = {"4K": "2K", "2K": "1K"}.get(size)  # type: ignore[assignment]
    if smaller is None:
        return max(16, width // 2), max(16, height // 2)
    try:
        parse_aspect_ratio(ratio_of(width, height))
        return pixels_for(smaller, ratio_of(width, height), multiple=16)
    except ValueError:
        return max(16, width // 2), max(16, height // 2)


def make_webp(width: int, height: int, *, seed: int = 0) -> bytes:
    """A lossless WebP (VP8L) of one colour, a few dozen bytes whatever its size.

    The bitstream (RFC 9649): the VP8L header, no transforms, no colour cache, no meta
    prefix codes, then five "simple" prefix codes of one 8-bit symbol each (green, red,
    blue, alpha, distance), so every pixel takes zero bits.
    """
    bits: list[int] = []

    def put(value: int, count: int) -> None:
        bits.extend((value >> i) & 1 for i in range(count))

    put(width - 1, 14)
    put(height - 1, 14)
    put(0, 4)  # alpha not used, version 0
    put(0, 3)  # no transform, no colour cache, no meta prefix codes
    red, green, blue = (40 + 53 * seed) % 256, (90 + 31 * seed) % 256, (160 + 17 * seed) % 256
    for symbol in (green, red, blue, 255, 0):
        put(0b101, 3)  # simple code, one symbol, 8 bits
        put(symbol, 8)
    bits.extend([0] * (-len(bits) % 8))
    body = b"\x2f" + bytes(
        sum(bit << i for i, bit in enumerate(bits[k : k + 8])) for k in range(0, len(bits), 8)
    )
    chunk = b"VP8L" + struct.pack("<I", len(body)) + body + b"\0" * (len(body) % 2)
    return b"RIFF" + struct.pack("<I", 4 + len(chunk)) + b"WEBP" + chunk


@functools.lru_cache(maxsize=64)
def encoded(fmt: ImageFormat, width: int, height: int, seed: int, payload: Payload) -> bytes:
    """The image bytes (PNG, JPEG or WebP), cached."""
    if fmt == "webp":
        return make_webp(width, height, seed=seed)
    maker = make_jpeg if fmt == "jpeg" else make_png
    return maker(width, height, seed=seed, payload=payload)


@functools.lru_cache(maxsize=16)
def encoded_b64(fmt: ImageFormat, width: int, height: int, seed: int, payload: Payload) -> str:
    """The image as base64 text, cached (JSON bodies embed it)."""
    return base64.b64encode(encoded(fmt, width, height, seed, payload)).decode("ascii")


def size_of_pixels(width: int, height: int) -> Size:
    """The tier a pixel size asks for (1K at the least)."""
    return tier_for_pixels(width, height) or "1K"

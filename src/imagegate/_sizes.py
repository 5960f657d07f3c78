"""Size tiers, aspect ratios and the pixel helpers between them.

Sizes are tiers, not pixel counts: ``1K`` ≈ 1 MP, ``2K`` ≈ 4 MP, ``4K`` ≈ 16 MP, combined
with an aspect ratio ``W:H``. Each adapter maps (tier, aspect ratio) to its native
parameters; the tier an image was *delivered* at is computed from its decoded pixels with
`tier_for_pixels`, never trusted from the request. `snap_aspect_ratio` turns an input
image's pixel size into the ratio an edit follows when the caller names none.

This module sits below `imagegate._result` (which reads tiers from pixels) and
`imagegate._request` (which re-exports every name here).
"""

from __future__ import annotations

import math
from typing import Final, Literal, get_args

__all__ = [
    "COMMON_ASPECT_RATIOS",
    "SIZES",
    "Size",
    "next_size_down",
    "parse_aspect_ratio",
    "pixels_for",
    "size_rank",
    "snap_aspect_ratio",
    "tier_for_pixels",
]

Size = Literal["1K", "2K", "4K"]
"""A size tier: ``1K`` ≈ 1 MP, ``2K`` ≈ 4 MP, ``4K`` ≈ 16 MP."""

SIZES: Final[tuple[Size, ...]] = get_args(Size)
"""All size tiers, smallest first."""

COMMON_ASPECT_RATIOS: Final[tuple[str, ...]] = (
    "1:1", "4:5", "5:4", "3:4", "4:3", "2:3", "3:2", "9:16", "16:9", "21:9",
    "1:4", "4:1", "1:8", "8:1",
)  # fmt: skip
"""The ratios `snap_aspect_ratio` chooses from, squarest first: the ten every Gemini image
model offers, and the four extremes (1:4, 4:1, 1:8, 8:1) the newer ones add; the
catalogue's models offer no other."""

_TIER_EDGE: Final[dict[Size, int]] = {"1K": 1024, "2K": 2048, "4K": 4096}
_TIER_PIXELS: Final[dict[Size, int]] = {s: e * e for s, e in _TIER_EDGE.items()}
# An image counts as delivered at a tier when it has at least this share of the tier's
# nominal pixels: Gemini's 21:9 1K (1584×672) is 1K, a 1440×1440 Flux image is not 2K.
_TIER_MIN_SHARE: Final = 0.7
_MAX_RATIO: Final = 8.0
# The pixels each tier needs, largest tier first: the first one reached is the answer.
_TIER_FLOORS: Final[tuple[tuple[Size, float], ...]] = tuple(
    (size, _TIER_PIXELS[size] * _TIER_MIN_SHARE) for size in reversed(SIZES)
)


_RANKS: Final[dict[str, int]] = {size: rank for rank, size in enumerate(SIZES)}


def size_rank(size: Size) -> int:
    """Position of ``size`` among the tiers (``1K`` → 0, ``4K`` → 2)."""
    try:
        return _RANKS[size]
    except KeyError:
        raise ValueError(f"{size!r} is not a size tier") from None


def next_size_down(size: Size) -> Size | None:
    """The next smaller tier, or None below ``1K``."""
    rank = size_rank(size)
    return SIZES[rank - 1] if rank > 0 else None


def parse_aspect_ratio(value: str) -> tuple[int, int]:
    """Parse ``"W:H"`` into two positive integers within 1:8 … 8:1.

    Raises:
        ValueError: with a message that says what is wrong with ``value``.
    """
    parts = value.split(":") if isinstance(value, str) else []
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"aspect ratio must look like 'W:H' with whole numbers, got {value!r}")
    w, h = (int(p) for p in parts)
    if w <= 0 or h <= 0:
        raise ValueError(f"aspect ratio sides must be positive, got {value!r}")
    if not 1 / _MAX_RATIO <= w / h <= _MAX_RATIO:
        raise ValueError(f"aspect ratio must lie within 1:8 … 8:1, got {value!r}")
    return w, h


def _log_ratio(ratio: str) -> float:
    w, h = parse_aspect_ratio(ratio)
    return math.log(w / h)


_COMMON_LOGS: Final = tuple((_log_ratio(r), r) for r in COMMON_ASPECT_RATIOS)


def snap_aspect_ratio(width: int, height: int) -> str:
    """The `COMMON_ASPECT_RATIOS` entry nearest to ``width`` × ``height``.

    Nearest on a log scale, ``|log(width / height) − log(W / H)|``, so a ratio and its
    portrait mirror are judged alike; a tie goes to the squarer ratio. Anything wider
    than 8:1 (or taller than 1:8) snaps to 8:1 (1:8). A 1920×1080 photo gives ``"16:9"``,
    a 1000×1000 one ``"1:1"``, a 1200×1000 one ``"5:4"``, a 3000×1000 one ``"21:9"``.
    """
    target = math.log(width / height)
    return min(_COMMON_LOGS, key=lambda item: abs(item[0] - target))[1]


def pixels_for(size: Size, aspect_ratio: str = "1:1", *, multiple: int = 32) -> tuple[int, int]:
    """Generic (width, height) for a tier and aspect ratio.

    Keeps the tier's nominal pixel count (``1K`` = 1024², ``2K`` = 2048², ``4K`` = 4096²),
    splits it by the ratio and rounds each side to ``multiple``. Providers publish their
    own tables, which differ by a few pixels; adapters use those.
    """
    w, h = parse_aspect_ratio(aspect_ratio)
    area = _TIER_PIXELS[size]
    width = math.sqrt(area * w / h)
    height = math.sqrt(area * h / w)
    return (
        max(multiple, round(width / multiple) * multiple),
        max(multiple, round(height / multiple) * multiple),
    )


def tier_for_pixels(width: int, height: int) -> Size | None:
    """The largest tier an image of ``width`` × ``height`` reaches, or None below ``1K``.

    A tier is reached with at least 70% of its nominal pixels (1 MP, 4 MP, 16 MP), so
    provider tables that round sides differently still count, while a 1440×1440 image
    (2.1 MP) is ``1K`` and OpenAI's 3840×2160 (8.3 MP) is ``2K``.
    """
    pixels = width * height
    for size, floor in _TIER_FLOORS:
        if pixels >= floor:
            return size
    return None

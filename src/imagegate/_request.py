"""What the caller asks for: `ImageRequest`, size tiers, aspect ratios and pixel helpers.

Sizes are tiers, not pixel counts: ``1K`` ≈ 1 MP, ``2K`` ≈ 4 MP, ``4K`` ≈ 16 MP, combined
with an aspect ratio ``W:H``. Each adapter maps (tier, aspect ratio) to its native
parameters; the tier an image was *delivered* at is computed from its decoded pixels with
`tier_for_pixels`, never trusted from the request.
"""

from __future__ import annotations

import math
from functools import cached_property, lru_cache
from typing import Annotated, Final, Literal, get_args

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from imagegate._errors import InvalidRequestError

__all__ = [
    "SIZES",
    "AspectRatio",
    "ImageRequest",
    "Size",
    "next_size_down",
    "parse_aspect_ratio",
    "pixels_for",
    "size_rank",
    "tier_for_pixels",
]

Size = Literal["1K", "2K", "4K"]
"""A size tier: ``1K`` ≈ 1 MP, ``2K`` ≈ 4 MP, ``4K`` ≈ 16 MP."""

SIZES: Final[tuple[Size, ...]] = get_args(Size)
"""All size tiers, smallest first."""

DEFAULT_DEADLINE_S: Final = 600.0
"""Seconds a request may take when no deadline is given: the server-side deadline
Gemini applies to 4K, so no upstream (a trickling body, a task left pending) can hold a
request longer than the slowest provider legitimately would."""

_TIER_EDGE: Final[dict[Size, int]] = {"1K": 1024, "2K": 2048, "4K": 4096}
_TIER_PIXELS: Final[dict[Size, int]] = {s: e * e for s, e in _TIER_EDGE.items()}
# An image counts as delivered at a tier when it has at least this share of the tier's
# nominal pixels: Gemini's 21:9 1K (1584×672) is 1K, a 1440×1440 Flux image is not 2K.
_TIER_MIN_SHARE: Final = 0.7
_MAX_RATIO: Final = 8.0
MAX_N: Final = 10


def size_rank(size: Size) -> int:
    """Position of ``size`` among the tiers (``1K`` → 0, ``4K`` → 2)."""
    return SIZES.index(size)


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


@lru_cache(maxsize=256)  # a handful of ratios are asked for again and again
def _check_aspect_ratio(value: str) -> str:
    w, h = parse_aspect_ratio(value)
    return f"{w}:{h}"


AspectRatio = Annotated[str, AfterValidator(_check_aspect_ratio)]
"""An aspect ratio written ``"W:H"``, within 1:8 … 8:1 (validated and normalised)."""


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
    reached: Size | None = None
    for size in SIZES:
        if pixels >= _TIER_PIXELS[size] * _TIER_MIN_SHARE:
            reached = size
    return reached


class ImageRequest(BaseModel):
    """One image-generation request, validated.

    Attributes:
        prompt: What to draw; must not be blank, and must be valid Unicode text (a lone
            surrogate such as ``"\\ud800"`` cannot be encoded to UTF-8 for any upstream).
        size: The requested tier.
        aspect_ratio: ``"W:H"`` within 1:8 … 8:1, normalised (``" 16 : 9"`` → ``"16:9"``).
        n: Images wanted, 1–10.
        seed: Passed to providers that accept one.
        deadline_s: Seconds the whole request may take (queueing, retries, fallbacks and
            hedges together), `DEFAULT_DEADLINE_S` (600) unless given; None means no
            deadline. Also accepted as ``deadline``.
        min_size: Smallest acceptable tier when downgrading; None means any.
        allow_downgrade: Whether smaller tiers may be tried when the requested one fails.
        allow_backup: Whether routes marked ``backup=True`` may be used.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    prompt: str
    size: Size = "1K"
    aspect_ratio: AspectRatio = "1:1"
    n: int = Field(default=1, ge=1, le=MAX_N)
    seed: int | None = None
    deadline_s: float | None = Field(
        default=DEFAULT_DEADLINE_S, gt=0, validation_alias=AliasChoices("deadline_s", "deadline")
    )
    min_size: Size | None = None
    allow_downgrade: bool = True
    allow_backup: bool = True

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be empty")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(
                f"prompt is not valid Unicode text: lone surrogate {value[exc.start]!r} "
                f"at index {exc.start}"
            ) from None
        return value

    @model_validator(mode="after")
    def _min_size_not_above_size(self) -> ImageRequest:
        if self.min_size is not None and size_rank(self.min_size) > size_rank(self.size):
            raise ValueError(f"min_size {self.min_size} is larger than size {self.size}")
        return self

    @cached_property
    def sizes_allowed(self) -> tuple[Size, ...]:
        """Tiers this request accepts, largest first: the requested one, then smaller
        ones down to ``min_size`` when downgrading is allowed."""
        top = size_rank(self.size)
        if not self.allow_downgrade:
            return (self.size,)
        floor = size_rank(self.min_size) if self.min_size is not None else 0
        return tuple(SIZES[r] for r in range(top, floor - 1, -1))

    @classmethod
    def build(cls, /, prompt: object, **fields: object) -> ImageRequest:
        """Validate like the constructor, but raise `InvalidRequestError` naming the field.

        This is what `Router.generate` uses, so callers catch one error family.
        Any name in ``fields``, even ``cls``, is validated as a field (and refused).
        """
        try:
            return cls.model_validate({"prompt": prompt, **fields})
        except ValidationError as exc:
            raise InvalidRequestError.from_validation(exc) from exc

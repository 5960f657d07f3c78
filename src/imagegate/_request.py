"""What the caller asks for: `ImageRequest`, size tiers, aspect ratios and pixel helpers.

Sizes are tiers, not pixel counts: ``1K`` ≈ 1 MP, ``2K`` ≈ 4 MP, ``4K`` ≈ 16 MP, combined
with an aspect ratio ``W:H``. Each adapter maps (tier, aspect ratio) to its native
parameters; the tier an image was *delivered* at is computed from its decoded pixels with
`tier_for_pixels`, never trusted from the request. The tier and ratio helpers live in
`imagegate._sizes` and are re-exported here; input images are read and checked by
`imagegate._inputs`.
"""

from __future__ import annotations

from functools import cached_property, lru_cache
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from imagegate._errors import InvalidRequestError
from imagegate._inputs import follow_aspect_ratio, load_images, load_mask
from imagegate._result import GeneratedImage
from imagegate._sizes import (
    SIZES,
    Size,
    next_size_down,
    parse_aspect_ratio,
    pixels_for,
    size_rank,
    snap_aspect_ratio,
    tier_for_pixels,
)

__all__ = [
    "SIZES",
    "AspectRatio",
    "ImageRequest",
    "Size",
    "next_size_down",
    "parse_aspect_ratio",
    "pixels_for",
    "size_rank",
    "snap_aspect_ratio",
    "tier_for_pixels",
]

DEFAULT_DEADLINE_S: Final = 600.0
"""Seconds a request may take when no deadline is given: the server-side deadline
Gemini applies to 4K, so no upstream (a trickling body, a task left pending) can hold a
request longer than the slowest provider legitimately would."""

MAX_N: Final = 10

# The tiers from each size down to the smallest acceptable one (None: 1K), largest first.
_SIZES_DOWN_TO: Final[dict[tuple[str, str | None], tuple[Size, ...]]] = {
    (size, floor): SIZES[size_rank(floor) if floor else 0 : size_rank(size) + 1][::-1]
    for size in SIZES
    for floor in (None, *SIZES)
}


@lru_cache(maxsize=256)  # a handful of ratios are asked for again and again
def _check_aspect_ratio(value: str) -> str:
    w, h = parse_aspect_ratio(value)
    return f"{w}:{h}"


AspectRatio = Annotated[str, AfterValidator(_check_aspect_ratio)]
"""An aspect ratio written ``"W:H"``, within 1:8 … 8:1 (validated and normalised)."""


class ImageRequest(BaseModel):
    """One image-generation request, validated.

    Attributes:
        prompt: What to draw; must not be blank, and must be valid Unicode text (a lone
            surrogate such as ``"\\ud800"`` cannot be encoded to UTF-8 for any upstream).
        size: The requested tier.
        aspect_ratio: ``"W:H"`` within 1:8 … 8:1, normalised (``" 16 : 9"`` → ``"16:9"``).
            None (or not given) follows the first input image, snapped to the nearest
            common ratio (`snap_aspect_ratio`: 1920×1080 → ``"16:9"``); without input
            images it is ``"1:1"``.
        n: Images wanted, 1–10.
        seed: Passed to providers that accept one.
        deadline_s: Seconds the whole request may take (queueing, retries, fallbacks and
            hedges together), `DEFAULT_DEADLINE_S` (600) unless given; None means no
            deadline. Also accepted as ``deadline``.
        min_size: Smallest acceptable tier when downgrading; None means any.
        allow_downgrade: Whether smaller tiers may be tried when the requested one fails.
        allow_backup: Whether routes marked ``backup=True`` may be used.
        images: Input images to edit or take as references, in order; each given as a
            path, bytes or a `GeneratedImage`, and kept as a `GeneratedImage` once read
            and checked (the rules and limits: docs/editing.md).
        mask: Where to edit ``images[0]``: a PNG with an alpha channel, of its pixel
            size, whose fully transparent pixels are edited; None for no mask.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, arbitrary_types_allowed=True
    )

    prompt: str
    # Before the ratio, which may follow images[0]: fields are validated in this order.
    images: tuple[GeneratedImage, ...] = ()
    mask: GeneratedImage | None = None
    size: Size = "1K"
    aspect_ratio: AspectRatio = Field(default=None, validate_default=True)
    n: int = Field(default=1, ge=1, le=MAX_N)
    seed: int | None = None
    deadline_s: float | None = Field(
        default=DEFAULT_DEADLINE_S, gt=0, validation_alias=AliasChoices("deadline_s", "deadline")
    )
    min_size: Size | None = None
    allow_downgrade: bool = True
    allow_backup: bool = True

    @field_validator("images", mode="before")
    @classmethod
    def _read_images(cls, value: Any) -> tuple[GeneratedImage, ...]:
        return load_images(value)

    @field_validator("mask", mode="before")
    @classmethod
    def _read_mask(cls, value: Any, info: ValidationInfo) -> Any:
        images = info.data.get("images")
        if value is None or images is None:  # no mask, or the images were refused
            return value
        return load_mask(value, images)

    @field_validator("aspect_ratio", mode="before")
    @classmethod
    def _follow_images(cls, value: Any, info: ValidationInfo) -> Any:
        return follow_aspect_ratio(info.data.get("images", ())) if value is None else value

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
        # Worked out now, where `cached_property` keeps it: read on every attempt, and on
        # CPython 3.11 its first read takes a lock.
        self.__dict__["sizes_allowed"] = self._tiers()
        return self

    @cached_property
    def sizes_allowed(self) -> tuple[Size, ...]:
        """Tiers this request accepts, largest first: the requested one, then smaller
        ones down to ``min_size`` when downgrading is allowed."""
        return self._tiers()

    def _tiers(self) -> tuple[Size, ...]:
        if not self.allow_downgrade:
            return (self.size,)
        return _SIZES_DOWN_TO[(self.size, self.min_size)]

    @classmethod
    def build(cls, /, prompt: object, **fields: object) -> ImageRequest:
        """Validate like the constructor, but raise `InvalidRequestError` naming the field.

        This is what `Router.generate` uses, so callers catch one error family.
        Any name in ``fields``, even ``cls``, is validated as a field (and refused).
        An input image refused is reported in its own words, naming it (``images[2]``).
        """
        return cls._from_fields({"prompt": prompt, **fields})

    @classmethod
    def _from_fields(cls, fields: dict[str, object], /) -> ImageRequest:
        """`build` from a dict of every field given, ``prompt`` included (what
        `Router.generate` hands over: one dict, not keyword arguments gathered again)."""
        try:
            # The model's validator itself: `model_validate` adds a call with six keywords.
            return cls.__pydantic_validator__.validate_python(fields)  # type: ignore[no-any-return]
        except ValidationError as exc:
            raise _input_error(exc) or InvalidRequestError.from_validation(exc) from exc


def _input_error(exc: ValidationError) -> InvalidRequestError | None:
    """The `InvalidRequestError` an input image's check raised, when one did."""
    for error in exc.errors(include_url=False, include_input=False):
        cause = error.get("ctx", {}).get("error")
        if isinstance(cause, InvalidRequestError):
            return cause
    return None

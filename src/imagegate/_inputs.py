"""Input images (edits, references) and the edit mask, read and checked at the boundary.

Each input may be a path (``str`` or ``os.PathLike``), bytes (``bytes``, ``bytearray``,
``memoryview``) or a `GeneratedImage` (``previous_result.image``). Whatever the kind, the
bytes decide what it is: the header is sniffed (PNG, JPEG or WebP), the pixel size read
from it and the image checked complete, never judged by a file suffix. A file is read
once, at most one byte past the limit, and nothing is re-encoded: the bytes read are the
bytes every provider receives.

Limits, the same for every route (a route's own, smaller ones skip it instead; see
`imagegate._plan`):

- at most `MAX_INPUT_IMAGES` (16) images: OpenAI's image edits take 16, Gemini 3 Pro
  Image 14, FLUX.2 8;
- at most `MAX_INPUT_IMAGE_BYTES` (50 MiB) per image or mask: OpenAI's gpt-image edits
  accept files under 50 MB, the largest any provider publishes;
- at most `MAX_INPUT_TOTAL_BYTES` (64 MiB) for the images and the mask together: every
  input stays in memory for the whole request and is encoded again per attempt.

A mask marks where to edit, by transparency (fully transparent pixels are edited): it must
be a PNG with an alpha channel (IHDR colour type 6, RGBA, or 4, grey with alpha), of the
pixel size of ``images[0]``, and comes only with images. JPEG has no alpha channel; PNGs
without one (RGB, grey, palette, even with a ``tRNS`` colour key) are refused as well.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import anyio.to_thread

from imagegate._errors import InvalidRequestError
from imagegate._result import GeneratedImage
from imagegate._sizes import snap_aspect_ratio

__all__ = [
    "MASK_COLOUR_TYPES",
    "MAX_INPUT_IMAGES",
    "MAX_INPUT_IMAGE_BYTES",
    "MAX_INPUT_TOTAL_BYTES",
    "TEXT_ASPECT_RATIO",
    "ImageInput",
    "Inputs",
    "follow_aspect_ratio",
    "load_images",
    "load_inputs",
    "load_mask",
    "read_inputs",
]

ImageInput: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | GeneratedImage
"""One input image as a caller may give it: a path, encoded bytes or a `GeneratedImage`."""

MAX_INPUT_IMAGES: Final = 16
"""Most input images one request may carry (OpenAI's image edits take 16)."""

MAX_INPUT_IMAGE_BYTES: Final = 50 * 1024 * 1024
"""Largest input image or mask, in bytes (50 MiB: no provider publishes a larger limit)."""

MAX_INPUT_TOTAL_BYTES: Final = 64 * 1024 * 1024
"""Largest sum of a request's input images and mask, in bytes (64 MiB)."""

TEXT_ASPECT_RATIO: Final = "1:1"
"""The aspect ratio of a request that names none and carries no input image."""

MASK_COLOUR_TYPES: Final = {4: "grey with alpha", 6: "RGBA"}
"""PNG colour types (IHDR byte 25) a mask may have: those with an alpha channel."""

_PNG_COLOUR_TYPES: Final = {0: "grey", 2: "RGB", 3: "palette"}
_SCALARS: Final = (str, bytes, bytearray, memoryview, os.PathLike, GeneratedImage)


@dataclass(frozen=True, slots=True)
class Inputs:
    """A request's inputs, checked.

    Attributes:
        images: The input images, in the caller's order.
        mask: The edit mask, or None.
    """

    images: tuple[GeneratedImage, ...] = ()
    mask: GeneratedImage | None = None


def load_inputs(images: object = (), mask: object = None) -> Inputs:
    """Read and check a request's input images and mask (the rules: module docstring).

    Args:
        images: A sequence of `ImageInput`; None or empty for none.
        mask: One `ImageInput`, or None.

    Raises:
        InvalidRequestError: naming the input at fault (``images[2]: not a PNG, JPEG or
            WebP image …``, ``mask: …``), with ``field`` ``"images"`` or ``"mask"``.
    """
    loaded = load_images(images)
    return Inputs(loaded, None if mask is None else load_mask(mask, loaded))


def load_images(images: object) -> tuple[GeneratedImage, ...]:
    """The input images, read and checked (`load_inputs` without a mask)."""
    loaded: list[GeneratedImage] = []
    total = 0
    for index, item in enumerate(_items(images)):
        image = _load(item, f"images[{index}]", "images")
        total = _add(total, image, f"images[{index}]", "images")
        loaded.append(image)
    return tuple(loaded)


def load_mask(mask: object, images: tuple[GeneratedImage, ...]) -> GeneratedImage:
    """The mask, read and checked against the images it edits (already checked)."""
    image = _load(mask, "mask", "mask")
    _add(sum(len(i.data) for i in images), image, "mask", "mask")
    _check_mask(image, images)
    return image


async def read_inputs(images: object = (), mask: object = None) -> Inputs:
    """`load_inputs`, with files read in a worker thread when any input is a path, so a
    large file does not hold up the event loop."""
    listed = images if isinstance(images, list | tuple) else ()
    if any(isinstance(item, str | os.PathLike) for item in (*listed, mask)):
        return await anyio.to_thread.run_sync(load_inputs, images, mask)
    return load_inputs(images, mask)


def follow_aspect_ratio(images: tuple[GeneratedImage, ...]) -> str:
    """The aspect ratio of a request that names none: `snap_aspect_ratio` of the first
    input image, `TEXT_ASPECT_RATIO` without one."""
    if not images:
        return TEXT_ASPECT_RATIO
    return snap_aspect_ratio(images[0].width, images[0].height)


def _refuse(name: str, problem: str, field: str) -> InvalidRequestError:
    return InvalidRequestError(f"invalid request: {name}: {problem}", field=field)


def _items(images: object) -> Iterable[object]:
    """The images given, at most one past `MAX_INPUT_IMAGES` (then refused)."""
    if images is None:
        return ()
    if isinstance(images, _SCALARS) or not isinstance(images, Iterable):
        raise _refuse(
            "images",
            f"expected a list of images, got {type(images).__name__} "
            "(put a single image in a list)",
            "images",
        )
    items = list(itertools.islice(images, MAX_INPUT_IMAGES + 1))
    if len(items) > MAX_INPUT_IMAGES:
        raise _refuse(
            "images",
            f"more than {MAX_INPUT_IMAGES} input images; at most {MAX_INPUT_IMAGES}",
            "images",
        )
    return items


def _load(item: object, name: str, field: str) -> GeneratedImage:
    """One input as a checked `GeneratedImage` (the one given, when it is one)."""
    if isinstance(item, GeneratedImage):
        data: object = item.data
    elif isinstance(item, bytes | bytearray | memoryview):
        data = item
    elif isinstance(item, str | os.PathLike):
        data = _read(item, name, field)
    else:
        raise _refuse(
            name, f"expected a path, bytes or a GeneratedImage, got {type(item).__name__}", field
        )
    size = data.nbytes if isinstance(data, memoryview) else len(data)  # type: ignore[arg-type]
    if size > MAX_INPUT_IMAGE_BYTES:
        raise _refuse(name, _too_large(size), field)
    if isinstance(item, GeneratedImage):
        return item
    try:
        return GeneratedImage(data)  # type: ignore[arg-type]
    except ValueError as exc:
        raise _refuse(name, str(exc), field) from None


def _read(path_like: str | os.PathLike[str], name: str, field: str) -> bytes:
    """The file's bytes, read once; a file above the limit is refused by its size, unread."""
    path = Path(path_like)
    try:
        if not path.is_file():
            what = "not a file" if path.exists() else "no such file"
            raise _refuse(name, f"{what}: {str(path)!r}", field)
        size = path.stat().st_size
        if size > MAX_INPUT_IMAGE_BYTES:
            raise _refuse(name, _too_large(size), field)
        with path.open("rb") as file:
            return file.read(MAX_INPUT_IMAGE_BYTES + 1)  # the file may grow meanwhile
    except OSError as exc:
        raise _refuse(name, f"cannot read {str(path)!r}: {exc.strerror or exc}", field) from None


def _too_large(size: int) -> str:
    return f"{size:,} bytes, above the limit of {MAX_INPUT_IMAGE_BYTES:,} per image"


def _add(total: int, image: GeneratedImage, name: str, field: str) -> int:
    total += len(image.data)
    if total > MAX_INPUT_TOTAL_BYTES:
        raise _refuse(
            name,
            f"the inputs up to it come to {total:,} bytes, above the limit of "
            f"{MAX_INPUT_TOTAL_BYTES:,} for all input images and the mask",
            field,
        )
    return total


def _check_mask(mask: GeneratedImage, images: tuple[GeneratedImage, ...]) -> None:
    """A mask needs an image, an alpha channel and the first image's pixel size."""
    if not images:
        raise _refuse("mask", "a mask needs an image to edit, and images is empty", "mask")
    if mask.mime_type != "image/png":
        kind = mask.mime_type.removeprefix("image/").upper()
        raise _refuse(
            "mask",
            f"a {kind} image; a mask must be a PNG with an alpha channel (its fully "
            "transparent pixels mark where to edit)",
            "mask",
        )
    colour_type = mask.data[25] if mask.data[12:16] == b"IHDR" else -1
    if colour_type not in MASK_COLOUR_TYPES:
        kind = _PNG_COLOUR_TYPES.get(colour_type, "unknown")
        raise _refuse(
            "mask",
            f"a PNG without an alpha channel (colour type {colour_type}, {kind}); a mask "
            "must be RGBA or grey with alpha, its fully transparent pixels marking where "
            "to edit",
            "mask",
        )
    first = images[0]
    if (mask.width, mask.height) != (first.width, first.height):
        raise _refuse(
            "mask",
            f"{mask.width}x{mask.height}, but images[0] is {first.width}x{first.height}; "
            "a mask must have the pixel size of the image it edits",
            "mask",
        )

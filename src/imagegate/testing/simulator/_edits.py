"""Input images (edits, references) as every simulated provider checks them.

A protocol module extracts the images it received, in order, and hands their bytes to
`check_inputs`, which returns what the event log records (each image's SHA-256, and the
mask's) and the first problem a real provider would refuse the call for: more images
than the model takes (the catalogue's ``inputs``, the same table the adapters read), a
file that is not a complete PNG, JPEG or WebP image, a format or a size the model does
not take, a mask where none is taken, a mask of another size than the first image, or
(OpenAI) a mask without an alpha channel. The limits are the simulator's own table
(`LIMITS`), from the providers' published pages: Vertex AI's model cards for Gemini
(docs.cloud.google.com/vertex-ai/generative-ai/docs/models/gemini/3-pro-image,
…/3-1-flash-image, …/2-5-flash-image), openai-python's ``images.edit`` docstring for
gpt-image and dall-e-2, and BFL's OpenAPI schemas (``FluxKontextProInputs``,
``Flux2Inputs``, ``Flux2KleinInputs``) for FLUX. The protocol answers a problem in its own
error shape; the outcome draws (`World.plan`) do not depend on the inputs, so an edit
meets the same outages as the same prompt would without them.

Only digests are kept, never the images, so the log stays small whatever is sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Final

from imagegate._result import GeneratedImage

__all__ = [
    "LIMITS",
    "InputLimits",
    "Inputs",
    "check_inputs",
    "decode_base64",
    "digest",
    "has_alpha",
    "limits_for",
]

_FAMILIES: Final = {
    "gemini": "google",
    "vertex": "google",
    "openai_compatible": "google",
    "openai": "openai",
    "flux": "bfl",
}
_PNG_ALPHA_TYPES: Final = frozenset({4, 6})  # grey + alpha, RGBA (PNG spec, IHDR colour type)
_COMMON: Final = frozenset({"image/png", "image/jpeg", "image/webp"})


@dataclass(frozen=True, slots=True)
class InputLimits:
    """What a simulated model takes: input images, formats, bytes per image, a mask."""

    max_images: int
    mask: bool = False
    mime_types: frozenset[str] = _COMMON
    max_image_bytes: int | None = None


_GEMINI_3: Final = InputLimits(
    14, mime_types=_COMMON | {"image/heic", "image/heif"}, max_image_bytes=7_000_000
)
_GPT_IMAGE: Final = InputLimits(16, mask=True, max_image_bytes=50_000_000)

LIMITS: Final[tuple[tuple[str, str, InputLimits], ...]] = (
    ("google", "gemini-2.5-flash-image", InputLimits(3, max_image_bytes=7_000_000)),
    ("google", "nano-banana", InputLimits(3, max_image_bytes=7_000_000)),
    ("google", "gemini-3", _GEMINI_3),
    ("google", "gemini-nano-banana", _GEMINI_3),
    ("google", "nano-banana-", _GEMINI_3),
    ("openai", "gpt-image", _GPT_IMAGE),
    ("openai", "chatgpt-image", _GPT_IMAGE),
    ("openai", "dall-e-2", InputLimits(1, True, frozenset({"image/png"}), 4_000_000)),
    ("bfl", "flux-kontext", InputLimits(4)),
    ("bfl", "flux-2-klein", InputLimits(4)),
    ("bfl", "flux-2", InputLimits(8)),
)
"""(family, model-name prefix, limits); the longest prefix a model name starts with wins
(``models/`` and a vendor prefix such as ``google/`` ignored); other models take none."""


@dataclass(frozen=True, slots=True)
class Inputs:
    """What an attempt received besides its prompt.

    Attributes:
        images: The SHA-256 (hex) of each input image, in the order received.
        mask: The SHA-256 of the mask, or None.
        problem: Why the provider refuses them (its message), or None when it takes them.
        field: The request field the problem is about (``"image"`` or ``"mask"``).
        kind: What kind of problem: ``count``, ``unreadable``, ``format``, ``bytes`` or
            ``mask``; empty when there is none.
    """

    images: tuple[str, ...] = ()
    mask: str | None = None
    problem: str | None = None
    field: str = "image"
    kind: str = ""


_URLSAFE: Final = str.maketrans("-_", "+/")


def decode_base64(text: object) -> bytes:
    """Base64 in the standard or the URL-safe alphabet (google-genai sends the latter; the
    API takes both), as bytes; empty for anything that does not decode."""
    if not isinstance(text, str):
        return b""
    try:
        return base64.b64decode(text.translate(_URLSAFE), validate=True)
    except (binascii.Error, ValueError):
        return b""


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, in hex."""
    return hashlib.sha256(data).hexdigest()


def has_alpha(image: GeneratedImage) -> bool:
    """Whether a PNG carries transparency: an alpha colour type, or a ``tRNS`` chunk."""
    if image.mime_type != "image/png" or len(image.data) < 26:
        return False
    return image.data[25] in _PNG_ALPHA_TYPES or b"tRNS" in image.data[:4096]


def limits_for(provider: str, model: str) -> InputLimits | None:
    """The input limits of ``model`` on ``provider`` (None: it takes no input image)."""
    family = _FAMILIES.get(provider, "google")
    name = model.strip().removeprefix("models/").rsplit("/", 1)[-1].lower()
    matches = [(p, lim) for f, p, lim in LIMITS if f == family and name.startswith(p)]
    return max(matches, key=lambda m: len(m[0]))[1] if matches else None


def check_inputs(
    provider: str,
    model: str,
    images: Sequence[bytes],
    mask: bytes | None = None,
    *,
    mask_needs_alpha: bool = False,
    per_image_cap: bool = True,
) -> Inputs:
    """Digests of what was received and the first problem with it (see the module);
    ``per_image_cap`` False ignores the catalogue's per-image byte limit (the Gemini API
    has only a per-request one)."""
    digests = tuple(digest(data) for data in images)
    mask_digest = None if mask is None else digest(mask)
    limits = limits_for(provider, model)
    if limits is not None and not per_image_cap:
        limits = replace(limits, max_image_bytes=None)
    problem, field, kind = _problem(limits, model, images, mask, mask_needs_alpha)
    return Inputs(digests, mask_digest, problem, field, kind)


def _problem(
    limits: InputLimits | None,
    model: str,
    images: Sequence[bytes],
    mask: bytes | None,
    mask_needs_alpha: bool,
) -> tuple[str | None, str, str]:
    most = 0 if limits is None else limits.max_images
    if len(images) > most:
        if most == 0:
            return f"{model} does not take input images.", "image", "count"
        return f"Too many input images: {len(images)} (at most {most}).", "image", "count"
    decoded: list[GeneratedImage] = []
    for number, data in enumerate(images, 1):
        image, problem, kind = _decode(data, limits, model, f"image {number}")
        if image is None:
            return problem, "image", kind
        decoded.append(image)
    if mask is None:
        return None, "image", ""
    if limits is None or not limits.mask:
        return f"{model} does not take a mask.", "mask", "mask"
    image, problem, kind = _decode(mask, limits, model, "mask")
    if image is None:
        return problem, "mask", kind
    problem = _mask_problem(image, decoded, mask_needs_alpha)
    return problem, "mask", "mask" if problem else ""


def _decode(
    data: bytes, limits: InputLimits | None, model: str, what: str
) -> tuple[GeneratedImage | None, str | None, str]:
    try:
        image = GeneratedImage(data)
    except ValueError:
        return None, f"Invalid {what}: not a valid PNG, JPEG or WebP image.", "unreadable"
    if limits is not None and image.mime_type not in limits.mime_types:
        return None, f"Invalid {what}: {image.mime_type} is not supported by {model}.", "format"
    cap = None if limits is None else limits.max_image_bytes
    if cap is not None and len(data) > cap:
        return None, f"Invalid {what}: {len(data)} bytes, above the limit of {cap}.", "bytes"
    return image, None, ""


def _mask_problem(
    decoded: GeneratedImage, images: list[GeneratedImage], needs_alpha: bool
) -> str | None:
    if not images:
        return "A mask needs an image to apply to."
    first = images[0]
    if (decoded.width, decoded.height) != (first.width, first.height):
        return (
            f"Invalid mask: {decoded.width}x{decoded.height} does not match the image "
            f"size {first.width}x{first.height}."
        )
    if needs_alpha and not has_alpha(decoded):
        return "Invalid mask: the mask must be a PNG with an alpha channel."
    return None

"""Input images on the adapter side: what a model takes (from the catalogue's
``inputs``), the check every adapter makes before sending them, and their encodings.

The router validates input images once, at the boundary (`GeneratedImage` sniffs the
type, reads the size and checks the image is complete); an adapter only checks them
against its model's limits, so a request a route cannot take fails fast with an
`InvalidRequestError` (never retried) instead of a paid round trip. Each image is
base64-encoded once for the whole request (`GeneratedImage.base64`), whatever the number
of attempts.
"""

from __future__ import annotations

from typing import Any

from imagegate._provider import Capabilities, ProviderRequest
from imagegate._result import GeneratedImage
from imagegate.errors import InvalidRequestError
from imagegate.providers._catalogue import InputLimits

__all__ = ["data_url", "input_fields", "refuse_inputs"]


def input_fields(limits: InputLimits | None) -> dict[str, Any]:
    """The `Capabilities` fields a catalogue ``inputs`` entry sets (none: no inputs)."""
    if limits is None:
        return {"max_input_images": 0}
    return {
        "max_input_images": limits.max_images,
        "supports_mask": limits.mask,
        "input_mime_types": limits.mime_types,
        "max_input_image_bytes": limits.max_image_bytes,
        "input_image_price_usd": limits.image_price_usd,
    }


def refuse_inputs(capabilities: Capabilities, request: ProviderRequest, route: str) -> None:
    """Refuse, before any network call, input images or a mask the model cannot take
    (`Capabilities.inputs_refusal`, what the router skips a route for), or a mask that
    cannot apply: without an input image, or of another size than the first.

    Raises:
        InvalidRequestError: naming the field (``images`` or ``mask``).
    """
    if not request.images and request.mask is None:
        return
    problem = capabilities.inputs_refusal(request.images, request.mask) or _mask_misfit(request)
    if problem is not None:
        field, reason = problem
        raise InvalidRequestError(f"{route}: {reason}", field=field, route=route, size=request.size)


def _mask_misfit(request: ProviderRequest) -> tuple[str, str] | None:
    mask = request.mask
    if mask is None:
        return None
    if not request.images:
        return "mask", "a mask needs an input image to apply to"
    first = request.images[0]
    if (mask.width, mask.height) != (first.width, first.height):
        return "mask", (
            f"the mask is {mask.width}x{mask.height}, the first input image "
            f"{first.width}x{first.height}: they must be the same size"
        )
    return None


def data_url(image: GeneratedImage) -> str:
    """``data:<type>;base64,<data>``, from the image's one encoding."""
    return f"data:{image.mime_type};base64,{image.base64()}"

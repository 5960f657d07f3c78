"""What comes back: `GeneratedImage`, `Attempt` and `ImageResult`.

Plain frozen records: results are built once per request on the hot path, and the image
bytes can be tens of megabytes, so nothing here copies or re-validates them.
"""

from __future__ import annotations

import base64
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

import imagesize

from imagegate._errors import Billing, ImageGateError
from imagegate._extras import install_hint
from imagegate._frozen import slot_init
from imagegate._integrity import incompleteness
from imagegate._numbers import ms, usd
from imagegate._sizes import Size, tier_for_pixels

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

__all__ = [
    "Attempt",
    "GeneratedImage",
    "ImageResult",
    "Outcome",
    "SkipReason",
    "SkippedOption",
    "sniff_mime_type",
]

Outcome = Literal["success", "error", "cancelled", "timeout"]
"""How an attempt ended: an image, a mapped error, cancelled (a hedge loser, or the caller
gave up), or our own attempt timeout."""

SkipReason = Literal[
    "unsupported",
    "route_rejected",
    "breaker_open",
    "admission",
    "load_budget",
    "quota",
    "shared_state",
    "guard",
    "deadline",
    "slower_than_time_left",
    "larger_price",
    "slower",
    "not_needed",
    "blocked",
]
"""Why an option was not tried (`SkippedOption.reason`):

- ``unsupported``: the route's model cannot deliver the tier, the ratio or ``n``;
- ``route_rejected``: the route refused the request (`InvalidRequestError`) at another size;
- ``breaker_open``: the (route, size) breaker let nothing through;
- ``admission``: its estimated success was too low while a smaller size was allowed;
- ``load_budget``: the attempts-per-request balance was spent, so the request stepped down;
- ``quota``: the route's rate limit or quota left no room before the deadline;
- ``shared_state``: shared state (Redis) did not answer in time;
- ``guard``: a guard added to the router said no (``detail`` has its words);
- ``deadline``: the deadline, or the time given to that size, ran out first;
- ``slower_than_time_left``: a larger size expected to deliver only after the time left;
- ``larger_price``: a larger size that costs more than the smaller one tried instead;
- ``slower``: a larger size expected to deliver later than the smaller one tried instead,
  by more than the option order allows (``latency``: any later at all);
- ``not_needed``: an option ranked earlier delivered the image first;
- ``blocked``: the prompt was refused, so nothing else was tried.
"""

_SIGNATURES: Final[tuple[tuple[bytes, int, str], ...]] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"WEBP", 8, "image/webp"),
)
_EXTENSIONS: Final = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def sniff_mime_type(data: bytes) -> str | None:
    """The image type from the magic bytes: PNG, JPEG or WebP; None for anything else."""
    for magic, offset, mime in _SIGNATURES:
        if data[offset : offset + len(magic)] == magic and (
            mime != "image/webp" or data[:4] == b"RIFF"
        ):
            return mime
    return None


class GeneratedImage:
    """One image: its bytes plus the type and pixel size read from its own header.

    Width and height come from the PNG/JPEG/WebP header, never from what was requested or
    what a provider claimed, so ``size`` is the tier really delivered. The image must also
    be complete (a PNG reaches its IEND chunk, a JPEG its end-of-image marker after the
    scan, a WebP its RIFF size), so a header followed by nothing is not an image.

    Args:
        data: The encoded image.
        mime_type: What the provider said it was; kept as ``declared_mime_type``. The
            header decides ``mime_type``.

    Raises:
        ValueError: if ``data`` is not a PNG, JPEG or WebP image, its header is
            truncated or carries no size, or the image is cut short after the header.
    """

    __slots__ = ("_base64", "data", "declared_mime_type", "height", "mime_type", "width")

    def __init__(self, data: bytes, *, mime_type: str | None = None) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"image data must be bytes, not {type(data).__name__}")
        data = bytes(data)
        sniffed = sniff_mime_type(data)
        if sniffed is None:
            head = data[:8].hex() or "empty"
            raise ValueError(f"not a PNG, JPEG or WebP image ({len(data)} bytes, starts {head})")
        try:
            info = imagesize.get_info(
                io.BytesIO(data), dpi=False, colors=False, channels=False, exif_rotation=False
            )
        except (ValueError, OSError, IndexError, EOFError) as exc:
            raise ValueError(f"corrupt or truncated {sniffed} header: {exc}") from exc
        if info.width <= 0 or info.height <= 0:
            raise ValueError(f"{sniffed} header carries no pixel size ({len(data)} bytes)")
        problem = incompleteness(data, sniffed)
        if problem is not None:
            kind = sniffed.removeprefix("image/").upper()
            raise ValueError(
                f"truncated {kind} image ({info.width}x{info.height} header): {problem}"
            )
        self.data: bytes = data
        self.mime_type: str = sniffed
        self.declared_mime_type: str | None = mime_type
        self.width: int = info.width
        self.height: int = info.height
        self._base64: str | None = None

    @property
    def size(self) -> Size | None:
        """The tier these pixels reach (see `tier_for_pixels`); None below 1K."""
        return tier_for_pixels(self.width, self.height)

    @property
    def megapixels(self) -> float:
        """Width × height in millions of pixels."""
        return self.width * self.height / 1_000_000

    @property
    def extension(self) -> str:
        """The usual file extension for the type, with its dot (``".png"``)."""
        return _EXTENSIONS[self.mime_type]

    def base64(self) -> str:
        """The bytes in standard base64, encoded on first use and kept: an input image
        sent by every attempt of a request is encoded once."""
        if self._base64 is None:
            self._base64 = base64.b64encode(self.data).decode("ascii")
        return self._base64

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the bytes to ``path`` unchanged and return it as a `Path`.

        A path without a suffix gets the extension of the image type.
        """
        target = Path(path)
        if not target.suffix:
            target = target.with_suffix(self.extension)
        target.write_bytes(self.data)
        return target

    def to_pil(self) -> PILImage:
        """Decode with Pillow (the ``pillow`` extra)."""
        try:
            from PIL import Image
        except ImportError as exc:
            raise ImportError(
                f"GeneratedImage.to_pil() needs Pillow: {install_hint('pillow')}"
            ) from exc
        return Image.open(io.BytesIO(self.data))

    def to_dict(self) -> dict[str, Any]:
        """Type, pixels, tier and byte count, JSON-ready (not the bytes: `save` them)."""
        return {
            "mime_type": self.mime_type,
            "width": self.width,
            "height": self.height,
            "size": self.size,
            "bytes": len(self.data),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, GeneratedImage):
            return NotImplemented
        return self.data == other.data

    def __hash__(self) -> int:
        return hash(self.data)

    def __repr__(self) -> str:
        return (
            f"GeneratedImage({self.mime_type}, {self.width}x{self.height}, "
            f"{len(self.data):,} bytes)"
        )


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
@dataclass(frozen=True, slots=True)
class Attempt:
    """One upstream call (or one that was cancelled before it answered).

    Attributes:
        route: ``"provider/model"``.
        size: The tier this attempt asked for.
        started: Clock time the call started, in seconds.
        ended: Clock time it ended, in seconds.
        outcome: ``"success"``, ``"error"``, ``"cancelled"`` or ``"timeout"``.
        error: The mapped error, or None on success or cancellation.
        billing: Whether it was (or may have been) charged for.
        cost_usd: What it cost, or may have cost when ``billing == "possibly_billed"``.
        hedge: True if it was started as a hedge next to a slower attempt.
        delivered_size: The tier of the image it returned (success only).
        number: 1 for the first try of this (route, size) in the request, 2 for its retry …
        cost_rejected: True when the provider reported a cost that cannot be a price (not
            finite, negative, or above ``MAX_REPORTED_COST_PER_IMAGE_USD`` per image):
            ``cost_usd`` is then the catalogue estimate.
        abandoned: True when the adapter's call ignored its cancellation (at the attempt
            timeout, or when the request was cancelled) for more than a second of clock
            time and was left behind, still cancelled, so the request could end.
    """

    route: str
    size: Size
    started: float
    ended: float
    outcome: Outcome
    error: ImageGateError | None = None
    billing: Billing = "not_billed"
    cost_usd: float = 0.0
    hedge: bool = False
    delivered_size: Size | None = None
    number: int = 1
    cost_rejected: bool = False
    abandoned: bool = False

    @property
    def duration_s(self) -> float:
        """How long the call took, in clock seconds."""
        return self.ended - self.started

    def to_dict(self) -> dict[str, Any]:
        """The attempt as JSON-ready values: times to the millisecond, cost to 1/10000 of
        a cent, the error as its class, HTTP status and (redacted) message."""
        error = self.error
        return {
            "route": self.route,
            "size": self.size,
            "started": ms(self.started),
            "ended": ms(self.ended),
            "duration_s": ms(self.duration_s),
            "outcome": self.outcome,
            "error": None
            if error is None
            else {
                "type": type(error).__name__,
                "status": getattr(error, "status", None),
                "message": error.message,
            },
            "billing": self.billing,
            "cost_usd": usd(self.cost_usd),
            "hedge": self.hedge,
            "delivered_size": self.delivered_size,
            "number": self.number,
            "cost_rejected": self.cost_rejected,
            "abandoned": self.abandoned,
        }


@dataclass(frozen=True, slots=True)
class SkippedOption:
    """An option — a route at a size — that the request did not try, and why.

    Attributes:
        route: ``"provider/model"``.
        size: The tier it would have asked for.
        reason: Why it was not tried (`SkipReason`).
        detail: The reason in words, with the figures behind it (``"estimated success
            12% (at best 18%) too low"``); empty when ``reason`` says it all.
    """

    route: str
    size: Size
    reason: SkipReason
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.route}@{self.size}: {self.detail or self.reason.replace('_', ' ')}"

    def to_dict(self) -> dict[str, Any]:
        """Route, size, reason and detail, JSON-ready."""
        return {
            "route": self.route,
            "size": self.size,
            "reason": self.reason,
            "detail": self.detail,
        }


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
@dataclass(frozen=True, slots=True)
class ImageResult:
    """The answer to one request.

    Attributes:
        images: Every image delivered, in provider order.
        route: ``"provider/model"`` that delivered them.
        provider: The provider name (``"gemini"``).
        model: The model name.
        requested_size: The tier the caller asked for.
        size: The tier delivered, computed from the pixels of the first image.
        downgraded: True when ``size`` is smaller than ``requested_size``.
        attempts: Every attempt of the request, in start order.
        cost_usd: Cost of all attempts that were or may have been billed.
        latency_s: Clock seconds from the call to the answer.
        request_id: imagegate's id for the request (also in every log event).
        size_ignored: True when the provider returned another size than the one asked.
        metadata: Provider extras worth keeping (response id, model version …).
        skipped: Every option of the request that was not tried, each with its reason,
            in the order the options were ranked (options the routes cannot serve first).
    """

    images: tuple[GeneratedImage, ...]
    route: str
    provider: str
    model: str
    requested_size: Size
    size: Size | None
    downgraded: bool
    attempts: tuple[Attempt, ...]
    cost_usd: float
    latency_s: float
    request_id: str = ""
    size_ignored: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    skipped: tuple[SkippedOption, ...] = ()

    @property
    def image(self) -> GeneratedImage:
        """The first image."""
        return self.images[0]

    def to_dict(self) -> dict[str, Any]:
        """The result as JSON-ready values (``json.dumps`` takes it as it is): every field,
        images as their `GeneratedImage.to_dict` (not their bytes), attempts and skipped
        options as theirs, money to 1/10000 of a cent and times to the millisecond."""
        return {
            "request_id": self.request_id,
            "route": self.route,
            "provider": self.provider,
            "model": self.model,
            "requested_size": self.requested_size,
            "size": self.size,
            "downgraded": self.downgraded,
            "size_ignored": self.size_ignored,
            "cost_usd": usd(self.cost_usd),
            "latency_s": ms(self.latency_s),
            "images": [image.to_dict() for image in self.images],
            "attempts": [attempt.to_dict() for attempt in self.attempts],
            "skipped": [option.to_dict() for option in self.skipped],
            "metadata": dict(self.metadata),
        }

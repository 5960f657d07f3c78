"""The `Provider` protocol: what an adapter (built-in or plugin) must offer the router.

A provider is any object with a ``name``, a ``capabilities(model)`` method, an async
``generate(request)`` and an async ``aclose()``; nothing needs to be inherited. Adapters
map vendor exceptions into `imagegate.errors` inside ``generate`` and never retry: the
router is the only retry loop.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol, runtime_checkable

from imagegate._frozen import slot_init
from imagegate._redact import redact
from imagegate._request import SIZES, Size, parse_aspect_ratio
from imagegate._result import GeneratedImage
from imagegate.errors import Billing

__all__ = [
    "MAX_REPORTED_COST_PER_IMAGE_USD",
    "Capabilities",
    "Provider",
    "ProviderRequest",
    "ProviderResponse",
    "clean_metadata",
    "plausible_cost",
]

MAX_REPORTED_COST_PER_IMAGE_USD: Final = 100.0
"""The most a provider may report per image delivered: far above any real image price,
far below what would exhaust a budget for good. A reported cost above it, negative or not
finite is not believed (the attempt is booked at the catalogue estimate)."""


@slot_init  # built on every request: half the cost per field (imagegate._frozen)
@dataclass(frozen=True, slots=True)
class ProviderRequest:
    """One call the router asks an adapter to make.

    Attributes:
        prompt: What to draw.
        model: The provider's model name.
        size: The tier to ask for.
        aspect_ratio: ``"W:H"``, already validated.
        n: Images wanted.
        seed: Passed on where the provider accepts one.
        timeout_s: How long this attempt may take; the adapter passes it to its client
            (the router also enforces it). None means no limit.
        request_id: The router's id for the whole request, for logs.
        options: Route options meant for the provider (``quality``, ``output_format`` …).
        images: Input images to edit or take as references, in the caller's order
            (empty for plain generation); validated at the boundary, shared by every
            attempt of the request (never copied per attempt).
        mask: The edit mask, for models whose `Capabilities.supports_mask` is true.
    """

    prompt: str
    model: str
    size: Size
    aspect_ratio: str = "1:1"
    n: int = 1
    seed: int | None = None
    timeout_s: float | None = None
    request_id: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    images: tuple[GeneratedImage, ...] = ()
    mask: GeneratedImage | None = None


_METADATA_ITEMS: Final = 32
_METADATA_TEXT: Final = 512
_METADATA_DEPTH: Final = 3


def clean_metadata(metadata: Mapping[Any, Any], _depth: int = 0) -> dict[str, Any]:
    """What an answer's extras may carry on: scalars and short texts (redacted), lists
    and mappings of them, a few levels deep and a few dozen items wide.

    Metadata is copied from upstream answers, which are not trusted: a field may hold a
    megabyte of text, a key the upstream echoed, or an object of any kind. Numbers must be
    finite and fit in 64 bits; other types are dropped.
    """
    cleaned: dict[str, Any] = {}
    for key, value in itertools.islice(metadata.items(), _METADATA_ITEMS):
        if isinstance(key, str):
            kept = _clean_value(value, _depth)
            if kept is not _DROP:
                cleaned[redact(key[:_METADATA_TEXT])] = kept
    return cleaned


_DROP: Final = object()


def _clean_value(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | str | int | float):
        return _clean_scalar(value)
    if depth >= _METADATA_DEPTH:
        return _DROP
    if isinstance(value, Mapping):
        return clean_metadata(value, depth + 1)
    if isinstance(value, list | tuple):
        items = (_clean_value(v, depth + 1) for v in itertools.islice(value, _METADATA_ITEMS))
        return [v for v in items if v is not _DROP]
    return _DROP


def _clean_scalar(value: bool | str | float | None) -> Any:
    if isinstance(value, str):
        return redact(value[:_METADATA_TEXT])
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else _DROP
    return value if math.isfinite(value) else _DROP


@slot_init  # built on every call: half the cost per field (imagegate._frozen)
@dataclass(frozen=True, slots=True)
class ProviderResponse:
    """What an adapter returns on success.

    Attributes:
        images: At least one image.
        cost_usd: What the provider charged, when it says so; None means "use the price
            table in `Capabilities`". The router books the price table's estimate instead
            of a cost that fails `plausible_cost` (and marks the attempt).
        billing: Normally ``"billed"``.
        size_ignored: True when the provider returned another size than the one asked.
        metadata: Extras worth keeping (response id, model version, usage …); kept
            as `clean_metadata` leaves them.
    """

    images: tuple[GeneratedImage, ...]
    cost_usd: float | None = None
    billing: Billing = "billed"
    size_ignored: bool = False
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if isinstance(self.metadata, Mapping):  # anything else is refused by the router
            object.__setattr__(self, "metadata", clean_metadata(self.metadata))


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a model on a provider can deliver, and what it costs.

    Attributes:
        sizes: Tiers the model can really deliver.
        aspect_ratios: Ratios it accepts, or None for any ratio within 1:8 … 8:1.
        max_n: Most images per call.
        price_usd: List price per image, per tier; a missing tier means "unknown".
        async_job: True for submit-and-poll APIs (Flux).
        supports_seed: Whether ``seed`` is honoured.
        max_input_images: Most input images (edits, references) a call may carry; 0
            for a model that only generates from text.
        supports_mask: Whether an edit mask is accepted.
        input_mime_types: Formats accepted for input images and masks.
        max_input_image_bytes: Largest input image (or mask) accepted, in bytes; None
            when the provider publishes no limit.
        input_image_price_usd: What one input image adds to the price of a call, where
            the provider bills inputs (input image tokens); 0.0 when not billed or unknown.
    """

    sizes: frozenset[Size] = frozenset(SIZES)
    aspect_ratios: frozenset[str] | None = None
    max_n: int = 1
    price_usd: Mapping[Size, float] = field(default_factory=dict)
    async_job: bool = False
    supports_seed: bool = False
    max_input_images: int = 0
    supports_mask: bool = False
    input_mime_types: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/webp"})
    max_input_image_bytes: int | None = None
    input_image_price_usd: float = 0.0

    def unsupported_reason(
        self,
        size: Size,
        aspect_ratio: str,
        n: int = 1,
        *,
        images: Sequence[GeneratedImage] = (),
        mask: GeneratedImage | None = None,
    ) -> str | None:
        """Why this model cannot serve the request, or None when it can.

        Input images and the mask are judged first, against ``max_input_images``,
        ``supports_mask``, ``input_mime_types`` and ``max_input_image_bytes`` (``"8 input
        images, the model takes at most 3"``); then the tier, the ratio and ``n``.
        """
        if images or mask is not None:
            refused = self.inputs_refusal(images, mask)
            if refused is not None:
                return refused[1]
        if size not in self.sizes:
            offered = ", ".join(s for s in SIZES if s in self.sizes) or "none"
            return f"cannot deliver {size} (offers {offered})"
        if self.aspect_ratios is not None:
            w, h = parse_aspect_ratio(aspect_ratio)
            if f"{w}:{h}" not in self.aspect_ratios:
                return f"aspect ratio {aspect_ratio} not offered"
        if n > self.max_n:
            return f"n={n} above the model's maximum of {self.max_n}"
        return None

    def inputs_refusal(
        self, images: Sequence[GeneratedImage], mask: GeneratedImage | None = None
    ) -> tuple[str, str] | None:
        """The field (``"images"`` or ``"mask"``) and the reason, naming the input, why this
        model cannot take these input images and mask; None when it can. The router skips
        a route for it; an adapter refuses a call with it before sending anything."""
        if len(images) > self.max_input_images:
            if self.max_input_images == 0:
                return "images", f"{_count(len(images))}, the model takes none"
            return (
                "images",
                f"{_count(len(images))}, the model takes at most {self.max_input_images}",
            )
        if mask is not None and not self.supports_mask:
            return "mask", "a mask, the model takes none"
        named = [(f"images[{i}]", image) for i, image in enumerate(images)]
        for name, image in named if mask is None else [*named, ("mask", mask)]:
            field = "mask" if name == "mask" else "images"
            if image.mime_type not in self.input_mime_types:
                takes = ", ".join(sorted(self.input_mime_types)) or "none"
                return field, f"{name} is {image.mime_type}, the model takes {takes}"
            limit = self.max_input_image_bytes
            if limit is not None and len(image.data) > limit:
                return (
                    field,
                    f"{name} is {len(image.data):,} bytes, the model takes at most {limit:,}",
                )
        return None

    def estimate_cost_usd(self, size: Size, n: int = 1, *, input_images: int = 0) -> float:
        """List price of ``n`` images at ``size``, plus ``input_image_price_usd`` for each
        of ``input_images`` (billed once per call, whatever ``n``); 0.0 when unknown."""
        return self.price_usd.get(size, 0.0) * n + self.input_image_price_usd * input_images


def _count(images: int) -> str:
    return f"{images} input image{'s' if images != 1 else ''}"


def plausible_cost(cost_usd: float, images: int) -> bool:
    """Whether a cost reported for ``images`` images can be a real price: finite, not
    negative, at most ``MAX_REPORTED_COST_PER_IMAGE_USD`` per image."""
    return (
        isinstance(cost_usd, int | float)
        and not isinstance(cost_usd, bool)
        and math.isfinite(cost_usd)
        and 0 <= cost_usd <= MAX_REPORTED_COST_PER_IMAGE_USD * max(1, images)
    )


@runtime_checkable
class Provider(Protocol):
    """An image provider adapter.

    Attributes:
        name: The registry name (``"gemini"``).
    """

    name: str

    def capabilities(self, model: str) -> Capabilities:
        """Sizes, ratios, ``n`` and prices of ``model``; sensible defaults for unknown names."""
        ...

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Make one call. Raise only `imagegate.errors` classes; never retry."""
        ...

    async def aclose(self) -> None:
        """Release clients and connections. Safe to call more than once."""
        ...

"""The OpenAI image models, read from the catalogue (docs/catalogue.md), and what an
answer costs.

An Images answer from a gpt-image model says which ``quality`` it used (the request may
have left it to ``auto``) and its token ``usage``; `answer_cost` prices the answer from
those, falling back to the reported quality's per-image price, then to the estimate. The
answer is untrusted: a count that is not a whole number, is negative or absurdly large is
not used, so a bad body can only fall back to the estimate, never zero a cost.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from imagegate._request import Size
from imagegate.providers._catalogue import (
    Catalogue,
    Entry,
    InputLimits,
    TokenRates,
    active_catalogue,
    shipped_catalogue,
)

__all__ = ["KNOWN_MODELS", "OpenAIModel", "answer_cost", "list_cost", "openai_model"]

_FALLBACK_QUALITIES: Final = ("high", "xhigh", "max", "auto")
_MAX_TOKENS: Final = 1_000_000
"""More tokens than any one image call can use (a 4K image is ~16k output tokens)."""


@dataclass(frozen=True, slots=True)
class OpenAIModel:
    """How one OpenAI image model family is called and priced.

    Attributes:
        fixed_sizes: The only ``WxH`` values it accepts, or None for any ``WxH``
            (multiples of 16, ratio within 1:3 … 3:1, at most 3840 px a side and
            8,294,400 px in all).
        qualities: Accepted ``quality`` values; ``default_quality`` is what the price
            estimate assumes when none is configured (``auto`` is estimated like
            ``high`` until the answer says which quality it used).
        max_n: Most images per call.
        price_usd: List price per image at ~1 MP (the square size), per quality.
        wide_price_usd: List price of the non-square fixed sizes, per quality.
        b64_param: Whether ``response_format="b64_json"`` must be asked for (dall-e).
        token_rates: Dollars per million tokens of an answer's ``usage``; None when the
            record does not show them.
        inputs: The input images and mask ``images.edit`` takes; None for no edits.
    """

    fixed_sizes: tuple[tuple[int, int], ...] | None
    qualities: frozenset[str]
    default_quality: str
    max_n: int
    price_usd: Mapping[str, float]
    wide_price_usd: Mapping[str, float] | None = None
    b64_param: bool = False
    token_rates: TokenRates | None = None
    inputs: InputLimits | None = None

    @property
    def sizes(self) -> frozenset[Size]:
        """Tiers reachable: fixed tables top out at ~1.6 MP (1K); ``WxH`` models reach 2K."""
        return frozenset({"1K"} if self.fixed_sizes else {"1K", "2K"})


def _pixels(text: str) -> tuple[int, int]:
    width, height = text.lower().split("x")
    return int(width), int(height)


def _with_fallbacks(prices: Mapping[str, float], qualities: frozenset[str]) -> dict[str, float]:
    """Every accepted quality priced: one the table lacks (``auto``, ``xhigh``) is
    estimated at the table's highest price."""
    top = max(prices.values(), default=0.0)
    return {q: prices.get(q, top) for q in sorted(qualities | set(prices))}


def _from_entry(entry: Entry) -> OpenAIModel:
    qualities = frozenset(entry.qualities or ("auto",))
    table = entry.per_image or {}
    square = _with_fallbacks({q: p[0] for q, p in table.items()}, qualities)
    wide = _with_fallbacks({q: p[1] for q, p in table.items()}, qualities)
    fixed = tuple(_pixels(s) for s in entry.fixed_sizes or ())
    return OpenAIModel(
        fixed_sizes=fixed or None,
        qualities=qualities,
        default_quality=entry.default_quality or "auto",
        max_n=entry.max_n or 1,
        price_usd=square,
        wide_price_usd=wide if fixed else None,
        b64_param=bool(entry.b64_param),
        token_rates=entry.token_usd_per_1m,
        inputs=entry.inputs,
    )


KNOWN_MODELS: Final[Mapping[str, OpenAIModel]] = {
    e.id: _from_entry(e) for e in shipped_catalogue().entries if e.family == "openai"
}
"""The OpenAI entries of the shipped catalogue, by id (lookups read the catalogue in use
at call time: `openai_model`)."""


def openai_model(model: str) -> OpenAIModel:
    """The family of ``model``: the catalogue's entry (longest id or alias it starts
    with), then any ``gpt-image-N`` with N ≥ 2 takes any ``WxH``; everything else is
    treated like gpt-image-1 (three fixed sizes)."""
    return _lookup(active_catalogue(), model)


@functools.lru_cache(maxsize=256)
def _lookup(catalogue: Catalogue, model: str) -> OpenAIModel:
    # Called for every request (capabilities, generate): one scan per catalogue and model.
    entry = catalogue.get(model, "openai")
    if entry is None:
        version = re.match(r"gpt-image-(\d+)", model)
        flex = version is not None and int(version.group(1)) >= 2
        entry = catalogue.get("gpt-image-2" if flex else "gpt-image-1", "openai")
    if entry is None:  # a catalogue override without OpenAI entries
        return OpenAIModel(None, frozenset({"auto"}), "auto", 1, {})
    return _from_entry(entry)


def list_cost(spec: OpenAIModel, quality: str | None, width: int, height: int) -> float:
    """List price of one image of ``width`` × ``height`` at ``quality``."""
    square = width == height
    table = spec.price_usd if square or spec.wide_price_usd is None else spec.wide_price_usd
    price = table.get(quality or spec.default_quality, max(table.values(), default=0.0))
    if spec.fixed_sizes is None:
        price *= width * height / (1024 * 1024)  # billed by output tokens, ~ pixels
    return round(price, 6)


def answer_cost(
    spec: OpenAIModel, payload: Mapping[str, object], *, images: int, estimate_usd: float
) -> float:
    """What an answer cost: its token ``usage`` at the model's rates, else its reported
    ``quality`` at the per-image price (for its reported ``size``), else the estimate."""
    tokens = _usage_cost(spec.token_rates, payload.get("usage"))
    if tokens is not None:
        return round(tokens, 6)
    quality = payload.get("quality")
    if isinstance(quality, str) and quality in spec.price_usd:
        width, height = _reported_size(payload.get("size"))
        if width:
            return list_cost(spec, quality, width, height) * images
    return estimate_usd


def _reported_size(value: object) -> tuple[int, int]:
    if isinstance(value, str) and re.fullmatch(r"\d{2,5}x\d{2,5}", value):
        return _pixels(value)
    return 0, 0


def _usage_cost(rates: TokenRates | None, usage: object) -> float | None:
    """Tokens × rates, or None when the model has no rates or ``usage`` is not sane."""
    if rates is None or not isinstance(usage, Mapping):
        return None
    output = _count(usage.get("output_tokens"))
    text_in, image_in = _input_tokens(usage)
    if not output or text_in is None or image_in is None:
        return None
    return (
        text_in * rates.text_input + image_in * rates.image_input + output * rates.image_output
    ) / 1_000_000


def _input_tokens(usage: Mapping[object, object]) -> tuple[int | None, int | None]:
    """(text, image) input tokens: from ``input_tokens_details``, else all of
    ``input_tokens`` as text (a generation's input is its prompt)."""
    details = usage.get("input_tokens_details")
    if isinstance(details, Mapping):
        return _count(details.get("text_tokens")), _count(details.get("image_tokens", 0))
    return _count(usage.get("input_tokens")), 0


def _count(value: object) -> int | None:
    """A token count: a whole number from 0 to ``_MAX_TOKENS``; None otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= _MAX_TOKENS else None

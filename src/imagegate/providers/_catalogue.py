"""The model catalogue: image models, their tiers, prices and lifecycle, as data.

The catalogue ships as ``catalogue.toml`` next to this module. A file of the same schema
named by ``IMAGEGATE_CATALOGUE`` (or given to `use_catalogue`) corrects or extends it
without a release: its entries replace the shipped ones of the same ``id`` and add the
rest. Precedence, highest first: `use_catalogue`, ``IMAGEGATE_CATALOGUE``, the shipped
file. Every file is checked by pydantic; a bad one raises `ConfigurationError` naming the
file and the path of each key at fault (``model[3].price_usd.1K``).

Lookups match a model name by alias, then by the longest catalogue ``id`` it starts with
(so dated and ``-001`` variants share their model's entry); ``models/`` and a vendor
prefix (``google/``) are ignored.
"""

from __future__ import annotations

import datetime as dt
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from imagegate.errors import ConfigurationError

__all__ = [
    "CATALOGUE_ENV_VAR",
    "Catalogue",
    "Entry",
    "InputLimits",
    "Lifecycle",
    "Source",
    "TokenRates",
    "active_catalogue",
    "load_catalogue",
    "normalise",
    "shipped_catalogue",
    "use_catalogue",
]

CATALOGUE_ENV_VAR: Final = "IMAGEGATE_CATALOGUE"
"""Environment variable naming a catalogue file that overrides the shipped entries."""

_SHIPPED: Final = Path(__file__).with_name("catalogue.toml")
_MAX_FILE_BYTES: Final = 1_000_000

Family = Literal["google", "openai", "bfl"]
Tier = Literal["512", "1K", "2K", "4K"]
Price = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
TokenRate = Annotated[float, Field(ge=0, le=10_000, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where a fact in an entry comes from.

    Attributes:
        what: The facts it backs (``"shutdown 2026-05-12"``).
        url: The page, as stored in the public record.
        read: The date it was read.
    """

    what: str
    url: str
    read: dt.date


class Lifecycle(_Strict):
    """A model's public lifecycle, as its provider announced it.

    Attributes:
        released: When it became available.
        deprecated: When its retirement was announced; routes on it warn from then on.
        shutdown: When it stops answering; routes on it fail to open from then on.
        successor: The model the provider recommends instead.
    """

    released: dt.date | None = None
    deprecated: dt.date | None = None
    shutdown: dt.date | None = None
    successor: str | None = None


class TokenRates(_Strict):
    """Dollars per million tokens of an answer's ``usage``."""

    text_input: TokenRate
    image_input: TokenRate
    image_output: TokenRate


class InputLimits(_Strict):
    """What a model takes besides the prompt: input images to edit or follow, a mask.

    Attributes:
        max_images: Most input images per call; 0 for text-to-image only.
        mask: Whether an edit mask is accepted.
        mime_types: Formats accepted for input images (and the mask).
        max_image_bytes: Largest input image accepted, in bytes; None when unpublished.
        image_price_usd: What one input image adds to a call's price; 0 when not billed
            or not published (``notes`` says which).
    """

    max_images: Annotated[int, Field(ge=0, le=64)]
    mask: bool = False
    mime_types: frozenset[str] = frozenset({"image/png", "image/jpeg", "image/webp"})
    max_image_bytes: Annotated[int, Field(ge=1)] | None = None
    image_price_usd: Price = 0.0


class Entry(_Strict):
    """One model. Which fields apply depends on ``family``; ``like`` copies every field
    the entry leaves out from another entry (a preview and its GA release).

    Attributes:
        id: The model name the provider's API takes.
        family: ``google`` (Gemini), ``openai`` (OpenAI Images) or ``bfl`` (FLUX).
        like: Another entry's ``id`` to inherit unset fields from.
        name: The provider's product name.
        aliases: Other names that mean this model (``nano-banana-pro``).
        sizes: Tiers it delivers, ``512`` included where offered.
        aspect_ratios: Ratios it accepts (google).
        sends_image_size: False for models that reject ``imageSize`` (google).
        price_usd: List price per image, per tier (google, bfl).
        batch_price_usd: Batch-mode price per image, per tier (google).
        fixed_sizes: The only ``WxH`` it takes; empty for any ``WxH`` (openai).
        qualities: Accepted ``quality`` values (openai).
        default_quality: What the price estimate assumes when none is set (openai).
        max_n: Most images per call (openai).
        per_image: Price per image per quality: [square, non-square] (openai).
        token_usd_per_1m: Rates an answer's token ``usage`` is billed at (openai).
        b64_param: Whether ``response_format`` must be sent (dall-e).
        geometry: How sizes are sent (bfl): ``pixels32``, ``pixels16`` or ``ratio``.
        max_safety: Highest ``safety_tolerance`` accepted (bfl).
        inputs: Input images and mask it takes (edits, references); None for none.
        lifecycle: Release, deprecation and shutdown dates, and the successor.
        notes: What the record does not show, and other caveats.
        sources: Where the prices and dates come from.
    """

    id: str = Field(min_length=1)
    family: Family | None = None
    like: str | None = None
    name: str | None = None
    aliases: tuple[str, ...] | None = None
    sizes: tuple[Tier, ...] | None = None
    aspect_ratios: frozenset[str] | None = None
    sends_image_size: bool | None = None
    price_usd: dict[Tier, Price] | None = None
    batch_price_usd: dict[Tier, Price] | None = None
    fixed_sizes: tuple[str, ...] | None = None
    qualities: tuple[str, ...] | None = None
    default_quality: str | None = None
    max_n: Annotated[int, Field(ge=1, le=100)] | None = None
    per_image: dict[str, tuple[Price, Price]] | None = None
    token_usd_per_1m: TokenRates | None = None
    b64_param: bool | None = None
    geometry: Literal["pixels32", "pixels16", "ratio"] | None = None
    max_safety: Annotated[int, Field(ge=0, le=6)] | None = None
    inputs: InputLimits | None = None
    lifecycle: Lifecycle = Lifecycle()
    notes: str = ""
    sources: tuple[Source, ...] = ()

    def inherit(self, base: Entry) -> Entry:
        """This entry with every field it leaves unset taken from ``base``."""
        merged = {**base.model_dump(exclude_unset=True), **self.model_dump(exclude_unset=True)}
        merged.pop("like", None)
        return Entry.model_validate(merged)


class _File(_Strict):
    schema_version: Literal[1]
    read_on: dt.date | None = None
    model: tuple[Entry, ...] = ()


class Catalogue:
    """The image models imagegate knows, looked up by name.

    Args:
        entries: The entries; ``like`` references are resolved here.
        origin: Where they came from, for messages.
    """

    __slots__ = ("_by_id", "_prefixes", "origin")

    def __init__(self, entries: tuple[Entry, ...], *, origin: str = "<memory>") -> None:
        self.origin = origin
        raw = {e.id: e for e in entries}
        self._by_id: dict[str, Entry] = {k: _resolve(k, raw, origin) for k in raw}
        self._prefixes = [(e.id, e.id) for e in self._by_id.values()] + [
            (a, e.id) for e in self._by_id.values() for a in e.aliases or ()
        ]

    @property
    def entries(self) -> tuple[Entry, ...]:
        """Every entry, ``like`` resolved."""
        return tuple(self._by_id.values())

    def get(self, model: str, family: Family) -> Entry | None:
        """The entry ``model`` names in ``family``, or None when the catalogue has none:
        the longest ``id`` or alias the name starts with."""
        name = normalise(model)
        matches = [(p, i) for p, i in self._prefixes if name.startswith(p)]
        matches = [(p, i) for p, i in matches if self._by_id[i].family == family]
        if not matches:
            return None
        return self._by_id[max(matches, key=lambda m: len(m[0]))[1]]

    def merged(self, override: Catalogue) -> Catalogue:
        """These entries with ``override``'s replacing those of the same ``id``."""
        return Catalogue(
            (*{**self._by_id, **override._by_id}.values(),),
            origin=f"{override.origin} over {self.origin}",
        )

    def __repr__(self) -> str:
        return f"Catalogue({len(self._by_id)} models from {self.origin})"


def normalise(model: str) -> str:
    """``model`` without ``models/`` and a vendor prefix (``google/``), lower-cased."""
    return model.strip().removeprefix("models/").rsplit("/", 1)[-1].lower()


def _resolve(key: str, raw: Mapping[str, Entry], origin: str, seen: tuple[str, ...] = ()) -> Entry:
    entry = raw[key]
    if entry.like is not None:
        if entry.like not in raw or entry.like in (*seen, key):
            raise ConfigurationError(
                f"catalogue {origin}: model {key!r} is like {entry.like!r}, "
                "which is not an entry (or refers back to it)"
            )
        entry = entry.inherit(_resolve(entry.like, raw, origin, (*seen, key)))
    if entry.family is None:
        raise ConfigurationError(f"catalogue {origin}: model {key!r} has no family")
    return entry


def load_catalogue(path: str | os.PathLike[str]) -> Catalogue:
    """Read and check one catalogue file.

    Raises:
        ConfigurationError: the file is missing, too large, not TOML, or does not match
            the schema (every key at fault is named, by its path).
    """
    where = os.fspath(path)
    try:
        data = Path(where).read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"catalogue {where}: cannot read it ({exc.strerror})") from exc
    if len(data) > _MAX_FILE_BYTES:
        raise ConfigurationError(f"catalogue {where}: larger than {_MAX_FILE_BYTES} bytes")
    try:
        parsed: dict[str, Any] = tomllib.loads(data.decode("utf-8"))
        checked = _File.model_validate(parsed)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"catalogue {where}: not valid TOML ({exc})") from exc
    except pydantic.ValidationError as exc:
        raise ConfigurationError(f"catalogue {where}: {_problems(exc)}") from None
    return Catalogue(checked.model, origin=where)


def _problems(exc: pydantic.ValidationError) -> str:
    lines = []
    for error in exc.errors()[:20]:
        path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error["loc"])
        lines.append(f"{path.lstrip('.') or '(file)'}: {error['msg']}")
    return "; ".join(lines)


_cache: dict[str, Catalogue] = {}
_chosen: Catalogue | None = None


def use_catalogue(catalogue: Catalogue | str | os.PathLike[str] | None) -> Catalogue:
    """Make ``catalogue`` (an object, or a file merged over the shipped one) the one
    every adapter reads from now on; None goes back to ``IMAGEGATE_CATALOGUE`` or the
    shipped file. Returns the catalogue now in use.

    Raises:
        ConfigurationError: the file is bad (see `load_catalogue`).
    """
    global _chosen
    if catalogue is None:
        _chosen = None
    elif isinstance(catalogue, Catalogue):
        _chosen = catalogue
    else:
        _chosen = _shipped().merged(load_catalogue(catalogue))
    return active_catalogue()


def active_catalogue() -> Catalogue:
    """The catalogue in use: `use_catalogue`'s, else the shipped one with the file named
    by ``IMAGEGATE_CATALOGUE`` merged over it, else the shipped one.

    Raises:
        ConfigurationError: the file ``IMAGEGATE_CATALOGUE`` names is bad.
    """
    if _chosen is not None:
        return _chosen
    override = os.environ.get(CATALOGUE_ENV_VAR, "").strip()
    if not override:
        return _shipped()
    if override not in _cache:
        _cache[override] = _shipped().merged(load_catalogue(override))
    return _cache[override]


def shipped_catalogue() -> Catalogue:
    """The catalogue that ships with imagegate, without any override."""
    return _shipped()


def _shipped() -> Catalogue:
    if "" not in _cache:
        _cache[""] = load_catalogue(_SHIPPED)
    return _cache[""]

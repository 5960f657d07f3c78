"""Codecs: how a primitive's records and operations are kept in Redis.

`RedisState` knows how to reach Redis, what to do while it cannot, and how to come back;
it knows nothing of rate limits, breakers or ledgers. Each primitive whose state a fleet
shares puts a `Codec` beside itself and registers it with `register_codec`. The codec
says:

- ``kind``: the first part of the primitive's keys (``breaker`` in ``breaker:gemini:4K``),
  and `Codec.hash_tag`, which part of the rest Redis Cluster hashes;
- ``operations``: per operation type, the `Encoder` that turns one operation into a
  `RemoteCall` (its Lua `Script`, the arguments, and the decoder of the script's result);
- `Codec.record`: the record a script's reply carries, and `Codec.shifted`: that record
  moved from the server's clock into the caller's;
- hooks with defaults, for what only some records need: `Codec.aged` (what an old copy
  still vouches for), `Codec.localized` (an operation rewritten for the local copy),
  `Codec.merge_base` and `Codec.merge` (an additive record whose local changes are added
  to the shared one when Redis answers again).

A shared primitive is then one codec beside it and no change in the backend.

Every script starts with the prelude (``state/_lua/prelude.lua``): ``KEYS[1]`` is the
record's key; ``ARGV[1..3]`` the time base the backend passes (the caller's ``now`` or
"" for the server's clock, the time scale, the epoch); then the operation's own
arguments, which the script reads with ``op(k)``, ``num(k)`` and ``opt(k)``. The reply is
``{now, #results, results..., field, value, ...}``: the server's ``now``, the result
items (what `RemoteCall.result` decodes) and the record's fields after the operation
(what `Codec.record` decodes; none when the key holds nothing).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any, Protocol

__all__ = [
    "Codec",
    "Encoder",
    "RemoteCall",
    "Script",
    "codec_for_kind",
    "encoder_for",
    "float_arg",
    "no_result",
    "optional_arg",
    "register_codec",
    "scripts",
]


def float_arg(value: float) -> str:
    """``value`` as a script argument that reads back exactly (``repr`` of the float)."""
    return repr(float(value))


def optional_arg(value: float | None) -> str:
    """``value`` as a script argument; None is "" (the prelude's ``opt`` reads it as nil)."""
    return "" if value is None else repr(value)


def no_result(items: Sequence[str]) -> None:
    """The decoder of a script that returns no result items."""
    return


class Script:
    """A Lua script: the prelude, then its parts, read from the package's ``_lua`` folder
    on first use.

    Args:
        name: Its name (``"rate_reserve"``), unique among the registered scripts.
        parts: The files it is made of, in order, without ``.lua`` (``"rate"``, the
            record's helpers, then ``"rate_reserve"``, the operation).
        package: The package whose ``_lua`` folder holds the parts.
    """

    __slots__ = ("_source", "name", "package", "parts")

    def __init__(self, name: str, *parts: str, package: str) -> None:
        self.name = name
        self.parts = parts
        self.package = package
        self._source: tuple[str, str] | None = None  # the text and its SHA1, once read

    @property
    def text(self) -> str:
        """The whole script, as sent by ``EVAL``."""
        return self._read()[0]

    @property
    def sha(self) -> str:
        """Its SHA1, as sent by ``EVALSHA``."""
        return self._read()[1]

    def _read(self) -> tuple[str, str]:
        if self._source is None:
            prelude = _lua_file("imagegate.state", "prelude")
            text = "\n".join([prelude, *(_lua_file(self.package, part) for part in self.parts)])
            sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
            self._source = (text, sha)
        return self._source

    def __repr__(self) -> str:
        return f"Script({self.name!r}, parts={self.parts!r}, package={self.package!r})"


def _lua_file(package: str, part: str) -> str:
    return (resources.files(package) / "_lua" / f"{part}.lua").read_text(encoding="utf-8")


@dataclass(frozen=True, slots=True)
class RemoteCall:
    """One operation as a script call.

    Attributes:
        script: The script that runs it.
        args: Its arguments after the time base (``ARGV[4...]``).
        result: Decodes the reply's result items into what the operation's ``apply``
            returns.
    """

    script: Script
    args: tuple[str, ...]
    result: Callable[[Sequence[str]], Any]


Encoder = Callable[[Any, float], RemoteCall]
"""Turns an operation into its `RemoteCall`; the float is the backend's ``ttl_s``: real
seconds a record that sets no expiry of its own is kept after its last change
(``RedisState(ledger_ttl_s=...)``)."""


class Codec(Protocol):
    """How one primitive's records and operations are kept in Redis.

    ``kind``, ``operations``, ``scripts`` and `record` are required; the other methods
    have defaults that a codec inherits by subclassing `Codec` (or writes itself).
    """

    kind: str
    """The first part of the primitive's keys, before the first ``:``."""

    operations: Mapping[type[Any], Encoder]
    """The encoder of each operation type it runs (subclasses run as their base)."""

    scripts: tuple[Script, ...]
    """Every script it calls, the merge script included."""

    def record(self, fields: Mapping[str, str]) -> object | None:
        """The record a reply's fields hold; None when there are none (no record)."""
        ...

    def shifted(self, record: object, offset_s: float) -> object:
        """``record`` with its absolute times moved by ``offset_s`` (server → caller
        clock). The default: a record without times, unchanged."""
        return record

    def hash_tag(self, rest: str) -> str:
        """The key after ``{prefix}:{kind}:``, given the rest of ``{kind}:{rest}``, with
        its Redis Cluster hash tag. The default tags all of it: ``{rest}``."""
        return f"{{{rest}}}"

    def aged(self, record: object) -> object:
        """What a copy read longer ago than ``peek_max_age_s`` still says: claims other
        workers may have given up since are left out. The default: all of it."""
        return record

    def localized(self, op: Any, local: object | None, offset_s: float) -> Any:
        """``op`` to run on the local copy ``local``, which holds the server's record
        moved by ``offset_s`` (when Redis cannot be reached). The default: ``op``."""
        return op

    def merge_base(self, seed: object | None) -> object | None:
        """The record local changes are measured from, when a key goes local with the
        last shared copy ``seed``; None (the default): its local changes are dropped when
        Redis answers again, the shared record being authoritative."""
        return None

    def merge(self, base: object, local: object | None, ttl_s: float) -> RemoteCall | None:
        """The call that adds to the shared record what ``local`` changed since ``base``
        (see `merge_base`); None when there is nothing to add (the default)."""
        return None


_BY_KIND: dict[str, Codec] = {}
_BY_OPERATION: dict[type[Any], tuple[Codec, Encoder]] = {}
_BY_SUBCLASS: dict[type[Any], tuple[Codec, Encoder]] = {}  # found through the MRO
_SCRIPTS: dict[str, Script] = {}
_SCRIPTS_VIEW: Mapping[str, Script] = MappingProxyType(_SCRIPTS)


def register_codec(codec: Codec) -> None:
    """Let `RedisState` run ``codec``'s operations and name its keys.

    Registering the same codec again does nothing.

    Raises:
        ValueError: another codec already has its kind, one of its operation types or a
            script name.
    """
    known = _BY_KIND.get(codec.kind)
    if known is codec:
        return
    if known is not None:
        raise ValueError(f"a codec for kind {codec.kind!r} is already registered: {known!r}")
    taken = [op.__name__ for op in codec.operations if op in _BY_OPERATION]
    taken += [script.name for script in codec.scripts if script.name in _SCRIPTS]
    if taken:
        raise ValueError(f"{codec!r}: already registered by another codec: {taken}")
    _BY_KIND[codec.kind] = codec
    _BY_SUBCLASS.clear()
    for op_type, encoder in codec.operations.items():
        _BY_OPERATION[op_type] = (codec, encoder)
    for script in codec.scripts:
        _SCRIPTS[script.name] = script


def encoder_for(op: object) -> tuple[Codec, Encoder] | None:
    """The codec and encoder that run ``op`` (or a base class of it), or None."""
    op_type = type(op)
    found = _BY_OPERATION.get(op_type) or _BY_SUBCLASS.get(op_type)
    if found is None:
        for base in op_type.__mro__[1:]:
            found = _BY_OPERATION.get(base)
            if found is not None:
                _BY_SUBCLASS[op_type] = found
                break
    return found


def codec_for_kind(kind: str) -> Codec | None:
    """The codec registered for keys of ``kind``, or None."""
    return _BY_KIND.get(kind)


def scripts() -> Mapping[str, Script]:
    """Every registered script by name (a live, read-only view)."""
    return _SCRIPTS_VIEW

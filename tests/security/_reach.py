"""Where a secret can be reached from: every path from an object (an error, an answer)
to a string holding it, through exception links, attributes, slots, mappings and
sequences."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import FrameType, FunctionType, ModuleType, TracebackType
from typing import Any

from pydantic import SecretStr

_OPAQUE = (type, ModuleType, FunctionType, FrameType, TracebackType, SecretStr)
"""Not walked: classes and modules hold no request state, and a SecretStr is where a key
is meant to be."""


def _children(obj: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(obj, BaseException):
        yield ".__cause__", obj.__cause__
        yield ".__context__", obj.__context__
        yield ".args", obj.args
    if isinstance(obj, Mapping):
        try:
            items = list(obj.items())
        except Exception:  # a mapping that cannot be listed holds nothing we can reach
            items = []
        for key, value in items:
            yield f"[{key!r}]", value
            yield f"[{key!r}] (the key)", key
    elif isinstance(obj, list | tuple | set | frozenset):
        for i, value in enumerate(obj):
            yield f"[{i}]", value
    for name in getattr(obj, "__dict__", {}) if hasattr(obj, "__dict__") else ():
        yield f".{name}", getattr(obj, name, None)
    for cls in type(obj).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if isinstance(name, str) and not name.startswith("__"):
                yield f".{name}", getattr(obj, name, None)


def paths_to(secret: str, root: object, *, max_depth: int = 8) -> list[str]:
    """Every path (``.attr``, ``[key]``, ``__cause__`` …) from ``root`` to a string holding
    ``secret``, walking breadth first through exception links, attributes, slots,
    mappings and sequences, each object once."""
    found: list[str] = []
    seen: dict[int, object] = {}  # holds what it saw, so no id is reused
    level: list[tuple[str, Any]] = [("error", root)]
    for _ in range(max_depth):
        following: list[tuple[str, Any]] = []
        for path, obj in level:
            if isinstance(obj, str | bytes):
                text = obj if isinstance(obj, str) else obj.decode("latin-1")
                if secret in text:
                    found.append(path)
                continue
            if obj is None or id(obj) in seen or isinstance(obj, _OPAQUE):
                continue
            seen[id(obj)] = obj
            following += [(path + step, child) for step, child in _children(obj)]
        level = following
    return found

"""Batch items: an id and the `generate` arguments, checked one at a time.

A batch item that cannot be used (a line that is not JSON, an id missing, unsafe as a file
name or seen before) is not an exception: it becomes a `BatchItem` with an ``error``, and
the batch records it as a failed item with that reason and goes on.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegate._batch import as_async

__all__ = ["MAX_LINE_BYTES", "BatchItem", "check_id", "checked_items", "read_requests"]

MAX_LINE_BYTES = 1 << 20
"""The longest input line read (1 MiB); a longer one is a failed item."""

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_PATH_FIELDS = ("images", "mask")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One item of a batch.

    Attributes:
        id: Unique in the batch and safe as a file name (``[A-Za-z0-9][A-Za-z0-9._-]*``,
            at most 128 characters); an unusable item gets a name that no valid id can
            take (``line:12``, ``item:12``).
        arguments: `Router.generate` arguments (``prompt``, ``size``, ``images`` …).
        error: Why the item cannot be run, or None.
    """

    id: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


def check_id(value: object) -> str | None:
    """Why ``value`` cannot be an item id, or None when it can."""
    if not isinstance(value, str):
        return f"the id must be a string, got {type(value).__name__}"
    if not _ID.fullmatch(value):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return (
            f"id {shown!r} is not safe as a file name: use 1-128 of A-Z a-z 0-9 . _ -, "
            "starting with a letter or digit"
        )
    return None


def _item(value: object, where: str, seen: dict[str, str]) -> BatchItem:
    """``value`` (a mapping with an ``id``) as a `BatchItem`; ``where`` names it in
    errors and in the id of an unusable one; ``seen`` maps ids to where they were."""
    if isinstance(value, BatchItem):
        if value.error is not None:
            return value
        value = {**value.arguments, "id": value.id}
    if not isinstance(value, Mapping):
        return BatchItem(where, error=f"expected a JSON object, got {type(value).__name__}")
    if "id" not in value:
        return BatchItem(where, error="no id")
    item_id = value["id"]
    problem = check_id(item_id)
    if problem is not None:
        return BatchItem(where, error=problem)
    if item_id in seen:
        return BatchItem(where, error=f"duplicate id {item_id!r} (first at {seen[item_id]})")
    seen[item_id] = where
    return BatchItem(item_id, {k: v for k, v in value.items() if k != "id"})


async def checked_items(
    items: Iterable[BatchItem | Mapping[str, Any]] | AsyncIterable[BatchItem | Mapping[str, Any]],
) -> AsyncIterator[BatchItem]:
    """Every input as a `BatchItem`, ids checked and duplicates refused, one at a time."""
    seen: dict[str, str] = {}
    index = 0
    async for value in as_async(items):
        yield _item(value, f"item:{index}", seen)
        index += 1


def read_requests(path: str | Path) -> Iterator[BatchItem]:
    """The items of a JSONL file, read lazily: one JSON object per line, an ``id`` and
    `generate` arguments; ``images`` and ``mask`` are paths, relative ones taken from the
    file's folder. Blank lines are skipped; a bad line is an item with its ``error``."""
    source = Path(path)
    seen: dict[str, str] = {}
    with source.open("rb") as lines:
        number = 0
        while line := lines.readline(MAX_LINE_BYTES + 1):
            number += 1
            where = f"line:{number}"
            if len(line) > MAX_LINE_BYTES:
                while line and not line.endswith(b"\n"):  # skip the rest of it
                    line = lines.readline(MAX_LINE_BYTES)
                yield BatchItem(where, error=f"the line is longer than {MAX_LINE_BYTES} bytes")
                continue
            if not line.strip():
                continue
            yield _parsed(line, where, seen, source.parent)


def _parsed(line: bytes, where: str, seen: dict[str, str], folder: Path) -> BatchItem:
    try:
        value = json.loads(line)
    except ValueError as exc:  # UnicodeDecodeError included
        return BatchItem(where, error=f"not JSON: {exc}")
    item = _item(value, where, seen)
    if item.error is not None:
        return item
    arguments = dict(item.arguments)
    for name in _PATH_FIELDS:
        problem = _resolve(arguments, name, folder)
        if problem is not None:
            return BatchItem(item.id, error=problem)
    return BatchItem(item.id, arguments)


def _resolve(arguments: dict[str, Any], name: str, folder: Path) -> str | None:
    """Make ``arguments[name]`` (a path, or a list of them) paths from ``folder``; or
    say why it is not."""
    value = arguments.get(name)
    if value is None:
        return None
    listed = value if name == "images" else [value]
    if name == "images" and not isinstance(value, list):
        return "images must be a list of paths"
    if not all(isinstance(p, str) and p for p in listed):
        return f"{name} must be {'paths' if name == 'images' else 'a path'} (strings)"
    paths = [str(folder / p) for p in listed]
    arguments[name] = paths if name == "images" else paths[0]
    return None

"""The batch journal: ``journal.jsonl``, append-only, one JSON record a line.

Records, each flushed and fsynced before the batch goes on::

    {"type": "run", "run": 2}                        a run of the batch begins
    {"type": "started", "id": "sku-1", "run": 2}     an item is about to be sent
    {"type": "parked", "id": "sku-1", "run": 2, "wait_s": 3600.0, ...}   it waits
    {"type": "finished", "run": 2, "id": "sku-1", "status": "ok", ...}   its result

An item with a "finished" record is done and never sent again (a failed one is, with
``retry_failed``); one "started" but not finished was cut off and runs again; one whose
last record is "parked" was waiting for a quota or an outage and runs again. A crash in
the middle of a write leaves a torn last line: it is reported and cut off. A bad line
anywhere else is not a crash's trace, and the journal is refused. ``results.jsonl`` is the
journal's projection (each item's last "finished" record), rewritten whole at the start
and end of every run, appended to in between.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from imagegate.errors import ConfigurationError

__all__ = ["JOURNAL", "RESULTS", "ItemResult", "Journal", "atomic_write", "read_records"]

JOURNAL = "journal.jsonl"
RESULTS = "results.jsonl"
TEMP_SUFFIX = ".partial"

Status = Literal["ok", "failed"]


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What became of one batch item (a line of ``results.jsonl``).

    Attributes:
        id: The item's id.
        status: ``"ok"`` (its image is in ``file``) or ``"failed"`` (``error`` says why).
        file: The image's file name in the output folder.
        route: ``"provider/model"`` that delivered it.
        size: The tier delivered.
        requested_size: The tier asked for.
        attempts: Upstream attempts made for it in the run that finished it.
        cost_usd: What those attempts cost or may have cost.
        error: Why it failed.
        run: The run of the batch that finished it (1 for the first).
        resumed: True when an earlier run finished it and this one only reports it.
    """

    id: str
    status: Status
    file: str | None = None
    route: str | None = None
    size: str | None = None
    requested_size: str | None = None
    attempts: int = 0
    cost_usd: float = 0.0
    error: str | None = None
    run: int = 0
    resumed: bool = False

    @property
    def ok(self) -> bool:
        """True when the image was delivered and saved."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The ``results.jsonl`` line as a dict (without ``resumed``)."""
        record = asdict(self)
        del record["resumed"]
        return record


def _result(record: dict[str, Any]) -> ItemResult:
    fields = {k: v for k, v in record.items() if k in ItemResult.__dataclass_fields__}
    if fields.get("status") not in ("ok", "failed") or not isinstance(fields.get("id"), str):
        raise ValueError("a finished record needs an id and a status")
    return ItemResult(**{**fields, "resumed": True})


class Journal:
    """The journal of a batch's output folder, opened for one run (blocking calls: the
    runner calls them in a worker thread).

    Attributes:
        folder: The output folder.
        run: This run's number.
        finished: Each finished item's last result, by id.
        interrupted: Ids started by earlier runs and never finished (nor parked).
        parked: Ids an earlier run parked and never finished.
        torn: The torn last line cut off (a crash mid-write), or None.
    """

    __slots__ = (
        "_file",
        "_results",
        "finished",
        "folder",
        "interrupted",
        "parked",
        "run",
        "torn",
    )

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.finished: dict[str, ItemResult] = {}
        self.interrupted: set[str] = set()
        self.parked: set[str] = set()
        self.torn: str | None = None
        self.run = 1
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / JOURNAL
        if path.exists():
            self._load(path)
        _remove_partials(folder)
        self._file = path.open("ab")
        self.append({"type": "run", "run": self.run})
        self._results = (folder / RESULTS).open("ab")

    def _load(self, path: Path) -> None:
        self.torn = read_records(path, self._apply, "fix or move the journal")

    def _apply(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        kind = record.get("type")
        if kind == "run":
            self.run = int(record["run"]) + 1
        elif kind == "started":
            self.interrupted.add(str(record["id"]))
            self.parked.discard(str(record["id"]))
        elif kind == "parked":
            self.interrupted.discard(str(record["id"]))
            self.parked.add(str(record["id"]))
        elif kind == "finished":
            result = _result(record)
            self.interrupted.discard(result.id)
            self.parked.discard(result.id)
            self.finished.pop(result.id, None)  # keeps results.jsonl in finishing order
            self.finished[result.id] = result
        else:
            raise ValueError(f"unknown record type {kind!r}")

    def earlier(self, item_id: str, retry_failed: bool) -> ItemResult | None:
        """The result an earlier run finished ``item_id`` with, or None when it runs
        (again): never finished, or failed and ``retry_failed``."""
        result = self.finished.get(item_id)
        return result if result is not None and (result.ok or not retry_failed) else None

    def start(self, item_id: str) -> None:
        """Record that ``item_id`` is about to be sent (durable)."""
        self.append({"type": "started", "id": item_id, "run": self.run})

    def append(self, record: dict[str, Any]) -> None:
        """Write one record and make it durable (flush, fsync) before returning."""
        self._file.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        os.fsync(self._file.fileno())

    def finish(self, result: ItemResult) -> None:
        """Record an item's result: the journal first (durable), then ``results.jsonl``."""
        record = result.to_dict()
        self.append({"type": "finished", **record})
        self.finished.pop(result.id, None)
        self.finished[result.id] = result
        self._results.write(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        self._results.flush()

    def write_results(self, *, skip_failed: bool = False) -> None:
        """Rewrite ``results.jsonl`` from the journal: one line per finished item (failed
        ones left out with ``skip_failed``, as they are about to run again)."""
        kept = (r for r in self.finished.values() if not (skip_failed and not r.ok))
        lines = b"".join(
            json.dumps(r.to_dict(), separators=(",", ":")).encode() + b"\n" for r in kept
        )
        self._results.close()
        atomic_write(self.folder / RESULTS, lines)
        self._results = (self.folder / RESULTS).open("ab")

    def close(self) -> None:
        """Rewrite ``results.jsonl`` whole and close both files."""
        self.write_results()
        self._results.close()
        self._file.close()


def read_records(path: Path, apply: Callable[[Any], None], fix: str) -> str | None:
    """Pass each record of the JSON-lines file ``path`` to ``apply``; the torn last line
    a crash mid-write leaves (no newline after it, or not a record ``apply`` takes) is
    cut off the file, so the next record starts on a line of its own, and returned (its
    first 200 characters; None when there is none).

    Raises:
        ConfigurationError: a bad line before the last (not a crash's trace; ``fix``
            says what to do).
    """
    lines = path.read_bytes().split(b"\n")
    good = 0  # bytes of whole, valid lines
    torn: str | None = None
    for number, line in enumerate(lines, 1):
        last = number == len(lines)
        if not line.strip():
            good += len(line) + (0 if last else 1)
            continue
        try:
            if last:  # no newline after it: its write never completed
                raise ValueError("no newline at the end")
            apply(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            if number < len(lines) - 1 or (number == len(lines) - 1 and lines[-1]):
                raise ConfigurationError(
                    f"{path} line {number} is corrupt ({exc}) and is not the last line, "
                    f"so it is not a write cut off by a crash; {fix}"
                ) from None
            torn = line[:200].decode("utf-8", "replace")
            break
        good += len(line) + 1
    if torn is not None:
        with path.open("r+b") as file:
            file.truncate(good)
            os.fsync(file.fileno())
    return torn


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``path`` so it is never seen half written: a temporary name beside it,
    fsync, rename over, fsync the folder."""
    temp = path.with_name(f".{path.name}{TEMP_SUFFIX}")
    with temp.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    temp.replace(path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _remove_partials(folder: Path) -> None:
    """Delete temporary files a killed run left behind (never under a final name)."""
    for leftover in folder.glob(f".*{TEMP_SUFFIX}"):
        leftover.unlink(missing_ok=True)

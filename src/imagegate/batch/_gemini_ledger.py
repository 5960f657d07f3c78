"""``batch-jobs.jsonl``: which Gemini Batch API jobs hold which items, beside the journal.

The journal (``journal.jsonl``) says, per item, "started" and "finished"; this file says
which job a started item waits in, so that a run cut off while jobs were out picks them
up again instead of paying for the items twice. Records, each flushed and fsynced::

    {"type": "submitting", "display_name": "imagegate-…", "model": "…", "ids": [...]}
    {"type": "submitted", "display_name": "imagegate-…", "job": "batches/…"}
    {"type": "closed", "job": "batches/…", "state": "JOB_STATE_SUCCEEDED"}

"submitting" is written before the job is created: a run killed before it learnt the
job's name finds the job again by its display name (listing the account's jobs). A torn
last line (a crash mid-write) is cut off, as the journal's is; a bad line anywhere else
refuses the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imagegate.batch._journal import read_records

__all__ = ["BATCH_JOBS", "JobEntry", "Ledger"]

BATCH_JOBS = "batch-jobs.jsonl"


@dataclass(slots=True)
class JobEntry:
    """One job this batch created (or was about to).

    Attributes:
        display_name: Unique in the batch: how the job is found without its name.
        model: The model it runs.
        ids: Its items, in the job's order.
        job: ``batches/…``, once known.
        state: The state it was closed in, or None while open.
    """

    display_name: str
    model: str
    ids: list[str]
    job: str | None = None
    state: str | None = None

    @property
    def open(self) -> bool:
        """Whether its items still wait in it (or it may exist unknown)."""
        return self.state is None


@dataclass(slots=True)
class Ledger:
    """The jobs of a batch's output folder (blocking calls: run them in a worker thread).

    Attributes:
        folder: The output folder.
        entries: Every job, by display name, in creation order.
    """

    folder: Path
    entries: dict[str, JobEntry] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path) -> Ledger:
        """Read ``batch-jobs.jsonl`` (an absent file is an empty ledger).

        Raises:
            ConfigurationError: a line before the last is not a valid record.
        """
        ledger = cls(folder)
        path = folder / BATCH_JOBS
        if path.exists():
            read_records(path, ledger._apply, "fix or move the file")
        return ledger

    def _apply(self, record: Any) -> None:
        if not isinstance(record, dict):
            raise ValueError("not a JSON object")
        kind = record["type"]
        if kind == "submitting":
            ids = [str(i) for i in record["ids"]]
            name = str(record["display_name"])
            self.entries[name] = JobEntry(name, str(record["model"]), ids)
        elif kind == "submitted":
            self.entries[str(record["display_name"])].job = str(record["job"])
        elif kind == "closed":
            self.entries[str(record["display_name"])].state = str(record["state"])
        else:
            raise ValueError(f"unknown record type {kind!r}")

    def submitting(self, display_name: str, model: str, ids: list[str]) -> JobEntry:
        """Record a job about to be created."""
        self._write(
            {"type": "submitting", "display_name": display_name, "model": model, "ids": ids}
        )
        return self.entries[display_name]

    def submitted(self, entry: JobEntry, job: str) -> None:
        """Record the name of the job created."""
        self._write({"type": "submitted", "display_name": entry.display_name, "job": job})

    def closed(self, entry: JobEntry, state: str) -> None:
        """Record that the job's items no longer wait in it."""
        record = {"type": "closed", "display_name": entry.display_name, "state": state}
        self._write({**record, "job": entry.job})

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, separators=(",", ":")).encode() + b"\n"
        with (self.folder / BATCH_JOBS).open("ab") as file:
            file.write(line)
            file.flush()
            os.fsync(file.fileno())
        self._apply(record)

    def open_entries(self) -> list[JobEntry]:
        """The jobs whose items still wait, in creation order."""
        return [entry for entry in self.entries.values() if entry.open]

"""``batch-jobs.jsonl`` after a crash: a torn last line is cut off, as the journal's is,
so the next record starts on a line of its own and the file reads again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.batch._gemini_ledger import BATCH_JOBS, Ledger
from imagegate.errors import ConfigurationError


def test_a_torn_last_line_is_cut_off_and_the_next_record_reads(tmp_path: Path) -> None:
    submitting = {"type": "submitting", "display_name": "d", "model": "m", "ids": ["a"]}
    path = tmp_path / BATCH_JOBS
    path.write_text(json.dumps(submitting) + '\n{"type":"submitted","display_na')
    ledger = Ledger.load(tmp_path)
    (entry,) = ledger.open_entries()
    assert entry.job is None
    ledger.closed(entry, "NOT_CREATED")
    again = Ledger.load(tmp_path)
    assert again.open_entries() == []
    assert [json.loads(line)["type"] for line in path.read_text().splitlines()] == [
        "submitting",
        "closed",
    ]


def test_a_bad_line_before_the_last_refuses_the_file(tmp_path: Path) -> None:
    submitting = {"type": "submitting", "display_name": "d", "model": "m", "ids": ["a"]}
    (tmp_path / BATCH_JOBS).write_text("[1, 2]\n" + json.dumps(submitting) + "\n")
    with pytest.raises(ConfigurationError, match="line 1 is corrupt"):
        Ledger.load(tmp_path)

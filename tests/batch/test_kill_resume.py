"""`imagegate batch` killed hard twice during the 2026-01-21 outage, then resumed: every
item ends exactly once, nothing is half written, and nothing finished is sent again."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from imagegate import GeneratedImage

ITEMS = 300


def _requests(folder: Path) -> Path:
    path = folder / "requests.jsonl"
    lines = (
        json.dumps({"id": f"item-{i:03d}", "prompt": f"item-{i:03d} a product shot", "size": "2K"})
        for i in range(ITEMS)
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def _records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = path.read_bytes().split(b"\n")
    records = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a torn last line, while being killed
            records.append(json.loads(line))
    return records


def _finished(out: Path) -> int:
    return sum(r.get("type") == "finished" for r in _records(out / "journal.jsonl"))


def _start(requests: Path, out: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "imagegate.cli", "batch", str(requests), "--out", str(out)]
    command += ["--simulate", "outage-2026-01-21", "--time-scale", "0.002", "--concurrency", "16"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_after(process: subprocess.Popen[bytes], out: Path, finished: int) -> None:
    """SIGKILL ``process`` once the journal holds ``finished`` "finished" records."""
    deadline = time.monotonic() + 60
    while _finished(out) < finished:
        assert process.poll() is None, process.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "the batch made no progress"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.communicate()


def test_a_batch_killed_twice_ends_with_every_item_once(tmp_path: Path) -> None:
    """Two SIGKILLs at random points, then a resume: 300 results, no duplicate or partial
    file, a consistent journal, and no finished item generated again."""
    started = time.monotonic()
    requests, out = _requests(tmp_path), tmp_path / "out"
    rng = random.Random(os.getpid())
    first, second = rng.randint(20, 90), rng.randint(20, 90)
    _kill_after(_start(requests, out), out, first)
    _kill_after(_start(requests, out), out, _finished(out) + second)
    last = _start(requests, out)
    _, stderr = last.communicate(timeout=120)
    assert last.returncode in (0, 1), stderr.decode()[-2000:]

    journal = _records(out / "journal.jsonl")
    results = _records(out / "results.jsonl")
    assert len(results) == ITEMS
    assert {r["id"] for r in results} == {f"item-{i:03d}" for i in range(ITEMS)}
    assert [r["run"] for r in journal if r["type"] == "run"] == [1, 2, 3]
    finishes = Counter(r["id"] for r in journal if r["type"] == "finished")
    assert set(finishes.values()) == {1}  # each item finished exactly once
    finished_in = {r["id"]: r["run"] for r in journal if r["type"] == "finished"}
    _assert_never_started_after_finishing(journal)
    starts = (r for r in journal if r["type"] == "started")
    cut_off = {r["id"] for r in starts if r["run"] < finished_in[r["id"]]}
    assert len(cut_off) <= 2 * 16  # at most the items in flight at each kill
    _assert_whole_files(out, results)
    _assert_no_finished_item_billed_again(out, finished_in)
    assert b"batch run 3" in stderr
    assert time.monotonic() - started < 60


def _assert_never_started_after_finishing(journal: list[dict[str, Any]]) -> None:
    done: set[str] = set()
    for record in journal:
        if record["type"] == "started":
            assert record["id"] not in done, f"{record['id']} started after it finished"
        elif record["type"] == "finished":
            done.add(record["id"])


def _assert_whole_files(out: Path, results: list[dict[str, Any]]) -> None:
    files = {r["file"] for r in results if r["status"] == "ok"}
    expected = files | {"journal.jsonl", "results.jsonl", "simulated-attempts.jsonl"}
    assert {p.name for p in out.iterdir()} == expected  # no temporary file left behind
    for name in files:
        image = GeneratedImage((out / name).read_bytes())
        assert image.width * image.height > 0, name


def _assert_no_finished_item_billed_again(out: Path, finished_in: dict[str, int]) -> None:
    """The simulator's record: no attempt for an item in a run after the one that
    finished it. (An item cut off by a kill may be paid twice: its rerun is allowed.)"""
    attempts = _records(out / "simulated-attempts.jsonl")
    assert attempts
    for attempt in attempts:
        item = attempt["prompt"].split()[0]
        assert attempt["run"] <= finished_in[item], f"{item} sent again after it finished"


def test_a_batch_api_run_killed_while_its_job_is_out_resumes(tmp_path: Path) -> None:
    """``--batch-api`` on the embedded simulator, SIGKILLed once its job is created: the
    next process's simulator has never heard of the job (a 404), so the job is closed
    unreadable and its items are delivered by the routes, each finished once (the job
    was polled forever)."""
    requests, out = _requests(tmp_path), tmp_path / "out"
    command = [sys.executable, "-m", "imagegate.cli", "batch", str(requests), "--out", str(out)]
    command += ["--simulate", "healthy", "--time-scale", "0.001"]
    command += ["--batch-api", "gemini/gemini-3-pro-image"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ledger = out / "batch-jobs.jsonl"
    deadline = time.monotonic() + 60
    while not any(r.get("type") == "submitted" for r in _records(ledger)):
        assert first.poll() is None, first.communicate()[1].decode()[-2000:]
        assert time.monotonic() < deadline, "no job was created"
        time.sleep(0.005)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    again = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr.decode()[-2000:]
    results = _records(out / "results.jsonl")
    assert {r["id"] for r in results} == {f"item-{i:03d}" for i in range(ITEMS)}
    journal = _records(out / "journal.jsonl")
    assert set(Counter(r["id"] for r in journal if r["type"] == "finished").values()) == {1}
    states = [r["state"] for r in _records(ledger) if r["type"] == "closed"]
    assert "UNREADABLE" in states

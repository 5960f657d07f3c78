"""`imagegate batch` run as a user would: a config's routes or the embedded simulator,
exit statuses, the summary, resuming."""

from __future__ import annotations

import argparse
import io
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from imagegate.batch._cli import _Display
from imagegate.batch._run import Progress
from imagegate.batch._until import parse_until
from imagegate.cli import main
from imagegate.resilience.clock import FakeClock


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _config(folder: Path) -> Path:
    return _write(folder / "router.toml", ['[[routes]]\nprovider = "fake"\nmodel = "any"'])


def _results(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text().splitlines()
    return {r["id"]: r for r in map(json.loads, lines)}


def test_batch_with_a_config_delivers_reports_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three good lines and a bad one: exit 1, one results line each; a second run sends
    nothing and says so."""
    good = [{"id": f"p{n}", "prompt": f"a cat {n}", "size": "2K"} for n in range(3)]
    requests = _write(tmp_path / "requests.jsonl", [*good, "{not json"])
    argv = [
        "batch",
        str(requests),
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(_config(tmp_path)),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "batch run 1: 3 delivered, 1 failed" in err
    results = _results(tmp_path / "out")
    assert sorted(results) == ["line:4", "p0", "p1", "p2"]
    assert results["p0"]["size"] == "2K"
    assert results["p0"]["file"] == "p0.png"
    assert "not JSON" in results["line:4"]["error"]
    assert main(argv) == 1
    assert "batch run 2: 3 delivered, 1 failed (4 finished by earlier runs); $0.00" in (
        capsys.readouterr().err
    )


def test_batch_budget_caps_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--budget-usd: items past the cap fail with the reason; the rest are delivered."""
    requests = _write(tmp_path / "r.jsonl", [{"id": f"p{n}", "prompt": "x"} for n in range(3)])
    out = tmp_path / "out"
    argv = ["batch", str(requests), "--out", str(out), "--config", str(_config(tmp_path))]
    assert main([*argv, "--concurrency", "1", "--budget-usd", "0.02"]) == 1
    statuses = sorted(r["status"] for r in _results(out).values())
    assert statuses == ["failed", "ok", "ok"]
    failed = next(r for r in _results(out).values() if r["status"] == "failed")
    assert "budget" in failed["error"].lower()


def test_batch_on_the_simulator_keeps_its_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--simulate needs no key; the simulator's attempts are kept beside the results."""
    lines = [{"id": f"s{n}", "prompt": f"s{n} a boat [sim:success]"} for n in range(4)]
    requests = _write(tmp_path / "r.jsonl", lines)
    out = tmp_path / "out"
    argv = ["batch", str(requests), "--out", str(out), "--simulate", "healthy"]
    assert main([*argv, "--time-scale", "0.005", "--deadline-per-item", "900"]) == 0
    assert all(r["status"] == "ok" for r in _results(out).values())
    attempts = [json.loads(x) for x in (out / "simulated-attempts.jsonl").read_text().splitlines()]
    assert {a["prompt"].split()[0] for a in attempts} == {"s0", "s1", "s2", "s3"}
    assert all(a["run"] == 1 for a in attempts)
    assert "batch run 1: 4 delivered, 0 failed" in capsys.readouterr().err


def test_batch_ends_with_tables_by_route_and_by_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The summary ends with where the items went (by route: delivered, share at the size
    asked, attempts, cost, earlier runs included) and why the others failed."""
    lines = [{"id": f"s{n}", "prompt": f"s{n} a boat [sim:success]"} for n in range(3)]
    lines.append({"id": "bad", "prompt": "a boat [sim:prompt_blocked]"})
    requests = _write(tmp_path / "r.jsonl", lines)
    argv = ["batch", str(requests), "--out", str(tmp_path / "out"), "--simulate", "healthy"]
    argv += ["--time-scale", "0.005", "--deadline-per-item", "900"]
    assert main(argv) == 1
    first = capsys.readouterr().err
    results = _results(tmp_path / "out")
    delivered = Counter(r["route"] for r in results.values() if r["status"] == "ok")
    assert sum(delivered.values()) == 3
    assert "delivered, by route (all runs)" in first
    assert "failed, by error" in first
    table = first.split("delivered, by route (all runs)")[1].split("failed, by error")[0]
    for route, count in delivered.items():
        row = next(line for line in table.splitlines() if route in line)
        assert re.search(rf"\b{count}\b", row), row
    assert "the prompt was blocked" in first.split("failed, by error")[1]
    assert main(argv) == 1  # a second run reports the same batch: earlier runs count
    again = capsys.readouterr().err
    assert "delivered, by route (all runs)" in again
    assert "the prompt was blocked" in again.split("failed, by error")[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give --config FILE"),
        (["--simulate", "no-such-scenario"], "no-such-scenario"),
    ],
)
def test_batch_that_cannot_start_is_one_line_exit_2(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No routes, or an unknown scenario: one line on stderr, exit 2."""
    requests = _write(tmp_path / "r.jsonl", [{"id": "a", "prompt": "x"}])
    assert main(["batch", str(requests), "--out", str(tmp_path / "out"), *extra]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert message in err[0]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_is_one_line_rewritten() -> None:
    """On a terminal the progress line is redrawn in place: done, failed, in flight, spend."""
    progress, out = Progress(), _Terminal()
    progress.done, progress.failed, progress.in_flight, progress.cost_usd = 7, 1, 4, 0.5
    display = _Display(progress, 20, out)
    display.update(final=True)
    text = out.getvalue()
    assert text.startswith("\r\x1b[2K")
    assert "7 done, 1 failed, 4 in flight of 20; $0.50 this run" in text
    assert text.count("\n") == 1


def test_progress_shows_parked_items_and_the_next_wake_up() -> None:
    """Parked items and the wait before the first of them runs again are on the line."""
    progress, out = Progress(), _Terminal()
    progress.done, progress.parked, progress.next_wake = 4, 6, 33_480.0
    clock = FakeClock()
    _Display(progress, 10, out, clock).update(final=True)
    assert "4 done, 0 failed, 0 in flight, 6 parked (next try in 9.3 h) of 10" in out.getvalue()


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("36h", 129_600.0), ("1d12h", 129_600.0), ("90m", 5_400.0), ("45s", 45.0), ("1.5h", 5_400.0)],
)
def test_until_takes_a_duration(text: str, seconds: float) -> None:
    """``--until 36h`` and friends are waits from now."""
    assert parse_until(text).total_seconds() == seconds


def test_until_takes_an_iso_time_and_refuses_the_past() -> None:
    """An ISO-8601 time is the wait until it; a past one or nonsense is refused."""
    later = datetime.now(UTC) + timedelta(hours=2)
    wait = parse_until(later.isoformat()).total_seconds()
    assert 7_000 < wait <= 7_200
    for bad in ("2020-01-01T00:00:00+00:00", "tomorrow", "36", "h"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_until(bad)


def test_batch_api_mode_on_the_simulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--batch-api gemini/<model>`` on the embedded simulator: every item delivered by
    a Batch API job at half the gemini route's price, each billed once as a batch item in
    the simulator's record; a second run sends nothing."""
    lines = [{"id": f"p{n}", "prompt": f"a cat {n}", "size": "1K"} for n in range(4)]
    requests = _write(tmp_path / "requests.jsonl", lines)
    out = tmp_path / "out"
    argv = ["batch", str(requests), "--out", str(out), "--simulate", "healthy"]
    argv += ["--time-scale", "0.0001", "--batch-api", "gemini/gemini-3-pro-image"]
    assert main([*argv, "--batch-until", "2d"]) == 0
    assert "batch run 1: 4 delivered, 0 failed; $0.10 this run" in capsys.readouterr().err
    results = _results(out)
    assert {r["route"] for r in results.values()} == {"gemini-batch/gemini-3-pro-image"}
    attempts = [json.loads(x) for x in (out / "simulated-attempts.jsonl").read_text().splitlines()]
    assert sorted((a["prompt"], a["batch"], a["billed"]) for a in attempts) == [
        (f"a cat {n}", True, True) for n in range(4)
    ]
    assert main(argv) == 0
    assert "4 finished by earlier runs); $0.00" in capsys.readouterr().err


def test_batch_until_must_be_a_duration_or_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A ``--batch-until`` that is neither a duration nor a time stops the command (exit 2)."""
    requests = _write(tmp_path / "requests.jsonl", [{"id": "p", "prompt": "a cat"}])
    argv = ["batch", str(requests), "--out", str(tmp_path / "out"), "--simulate", "healthy"]
    argv += ["--batch-api", "gemini/gemini-3-pro-image", "--batch-until", "soon"]
    with pytest.raises(SystemExit) as stopped:
        main(argv)
    assert stopped.value.code == 2
    assert "'soon' is neither a duration" in capsys.readouterr().err

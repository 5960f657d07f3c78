"""``imagegate bench --measure instructions``: instructions per request counted by
valgrind's callgrind in child processes (never how many there should be)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from imagegate.bench import MissingDependency, bench_main
from imagegate.bench._instructions import InstructionsResult, count_instructions


@pytest.mark.skipif(
    shutil.which("callgrind_control") is None,
    reason="valgrind is not installed (.ci/services.sh installs it)",
)
def test_the_counts_are_printed_and_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each tier's direct call and routed request are counted in a child under callgrind:
    the router's count is many times the null provider's, and its overhead the
    difference."""
    out = tmp_path / "instructions.json"
    argv = ["--measure", "instructions", "--instructions-requests", "30", "--json", str(out)]
    assert bench_main(argv) == 0
    assert "instructions per request" in capsys.readouterr().out
    rows = json.loads(out.read_text())["instructions"]
    assert [row["size"] for row in rows] == ["1K", "4K"]
    for row in rows:
        assert row["requests"] == 30
        assert 0 < row["direct"] < row["router"] / 10
        assert row["overhead"] == pytest.approx(row["router"] - row["direct"])


async def test_without_valgrind_the_error_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no valgrind on the PATH, nothing runs and the error names the package."""
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingDependency, match="apt install valgrind"):
        await count_instructions(requests=1)


def test_the_overhead_is_the_router_less_the_direct_call() -> None:
    """``overhead`` is derived, and the JSON carries it."""
    result = InstructionsResult("1K", 10, direct=3_000.0, router=470_000.0)
    assert result.overhead == 467_000.0
    assert result.to_json()["overhead"] == 467_000.0

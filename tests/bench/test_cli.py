"""``imagegate bench`` and ``imagegate demo`` end to end, on tiny runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.bench import bench_main, demo_main

from .conftest import needs


def test_live_without_keys_says_so_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    """No key in the environment: a note per provider, nothing sent, status 0."""
    assert bench_main(["--live"]) == 0
    out = capsys.readouterr().out
    assert "no provider is configured" in out
    assert "GEMINI_API_KEY" in out
    assert "BFL_API_KEY" in out


def test_unknown_contender_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in --contenders lists the known ones."""
    with pytest.raises(SystemExit) as exited:
        bench_main(["--contenders", "waterfal"])
    assert exited.value.code == 2
    assert "waterfall" in capsys.readouterr().err


def test_unknown_scenario_is_reported(capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario that does not exist ends with status 2 and the built-in names."""
    assert bench_main(["--scenario", "nope", "--contenders", "oracle", "--quiet"]) == 2
    assert "outage-2026-01-21" in capsys.readouterr().err


@needs("matplotlib")
def test_contest_writes_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two contenders and the oracles on three requests: table, JSON and PNG."""
    out_json, out_png = tmp_path / "out.json", tmp_path / "out.png"
    status = bench_main(
        [
            "--requests", "3", "--concurrency", "3", "--time-scale", "0.001", "--quiet",
            "--contenders", "waterfall,imagegate,oracle",
            "--json", str(out_json), "--plot", str(out_png),
        ]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "imagegate against its targets" in printed
    document = json.loads(out_json.read_text())
    scenario = document["scenarios"][0]
    assert scenario["scenario"] == "outage-2026-01-21"
    assert set(scenario["metrics"]) == {"waterfall", "imagegate", "oracle", "oracle-quality"}
    assert len(scenario["records"]["imagegate"]) == 3
    assert document["machine"]["cpus"]
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_overhead_and_throughput_run(capsys: pytest.CaptureFixture[str]) -> None:
    """The router-overhead and throughput measurements run and print their tables."""
    status = bench_main(
        ["--measure", "overhead,throughput", "--overhead-requests", "50",
         "--throughput-requests", "20"]
    )  # fmt: skip
    assert status == 0
    out = capsys.readouterr().out
    assert "null provider" in out
    assert "router/adapter" in out
    assert "deadline/adapter" in out
    assert "0.95× allows" in out
    assert "requests per CPU-second" in out


def test_demo_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo plays a few requests on a scaled clock and ends with the closing lines."""
    contenders = "waterfall,imagegate-latency,imagegate-balanced,imagegate-quality,oracle"
    argv = ["--requests", "4", "--concurrency", "4", "--time-scale", "0.001"]
    assert demo_main([*argv, "--contenders", contenders, "--plot", str(tmp_path / "c.png")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # as read, not as wrapped
    assert "1 simulated second = 1 ms of real time here" in out
    assert "imagegate delivered an image in time to" in out
    assert "; the waterfall to " in out

"""``imagegate bench --measure profile``: where a single-attempt request's µs go."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.bench import bench_main
from imagegate.bench._profile import profile_overhead


async def test_the_profile_adds_up_to_the_request() -> None:
    """The groups share out the unprofiled µs per request, the router's own modules
    among them, costliest first."""
    result = await profile_overhead(requests=200, size="1K")
    names = [g.name for g in result.groups]
    assert {"imagegate._attempt", "imagegate._router", "null provider"} <= set(names)
    assert sum(g.us_per_request for g in result.groups) == pytest.approx(result.us_per_request)
    costs = [g.us_per_request for g in result.groups]
    assert costs == sorted(costs, reverse=True)
    assert all(g.calls_per_request > 0 for g in result.groups)


def test_profile_prints_and_writes_its_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--measure profile`` prints a table per tier and writes its rows to the JSON."""
    out_json = tmp_path / "bench.json"
    status = bench_main(
        ["--measure", "profile", "--profile-requests", "50", "--json", str(out_json)]
    )
    assert status == 0
    out = capsys.readouterr().out
    assert "single-attempt 1K request" in out
    assert "single-attempt 4K request" in out
    rows = json.loads(out_json.read_text())["profile"]
    assert [r["size"] for r in rows] == ["1K", "4K"]

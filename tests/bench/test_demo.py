"""``imagegate demo``: every contender's row, the legend in plain words, the simulated-time
line, the chart, the closing lines built from the run's figures, and LiteLLM's process."""

from __future__ import annotations

import io
import math
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from imagegate.bench import BenchConfig, Metrics, demo_main, run_virtual
from imagegate.bench._apart import Apart, ApartFailed
from imagegate.bench._demo import DEMO_CONFIG, run_demo_async
from imagegate.bench._frontier import frontier_lines
from imagegate.bench._metrics import RequestRecord
from imagegate.bench._progress import Scoreboard
from imagegate.bench._runner import ContenderRun, requests_for, run_contender

from .conftest import needs

_FORBIDDEN = ("≤", "at size", "hung up", "issue", "DESIGN", "session", "field notes")
_FAST = "waterfall,imagegate-latency,imagegate-balanced,imagegate-quality,oracle"


@needs("matplotlib")
def test_demo_shows_every_contender_the_legend_and_the_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default cast (LiteLLM when installed) in the table, the legend in plain words,
    the simulated-time line, the PNG's path, and none of the old jargon."""
    chart = tmp_path / "frontier.png"
    assert demo_main(["--requests", "4", "--concurrency", "4", "--plot", str(chart)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    expected = [n for n in DEMO_CONFIG.contenders if n != "oracle"]
    if "litellm" not in out:
        expected.remove("litellm")
    for name in (*expected, "oracle", "oracle-quality"):
        assert any(row.split("│")[1].strip() == name for row in rows), name
    for words in (
        "delivered in time: got an image before the 600 s deadline",
        "got the 4K asked for: the image really is 4K",
        "half / 95% had an image within: simulated seconds",
        "upstream calls per request:",
        "cost per image incl. calls that may have been billed:",
        "oracle: the fastest any client could have been",
    ):
        assert words in out
    assert "Times are simulated seconds of the 2026-01-21 outage (virtual time" in out
    assert f"Speed-vs-size chart (time to an image against share at 4K): {chart}" in out
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "imagegate delivered an image in time to" in out
    for word in _FORBIDDEN:
        assert word not in out, word


def test_demo_without_matplotlib_prints_the_install_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No matplotlib: the demo still ends with status 0 and says how to get the chart."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if it were not installed
    chart = tmp_path / "never.png"
    status = demo_main(["--requests", "3", "--contenders", _FAST, "--plot", str(chart)])
    assert status == 0
    out = capsys.readouterr().out
    assert "No speed-vs-size chart: the speed-vs-size chart needs matplotlib" in out
    assert "pip install 'imagegate[bench]'" in out
    assert not chart.exists()


def test_closing_lines_come_from_the_run(tmp_path: Path) -> None:
    """What the demo prints at the end is what its figures say, sentence for sentence."""
    config = replace(DEMO_CONFIG, requests=6, concurrency=6, contenders=tuple(_FAST.split(",")))
    out = io.StringIO()
    result = run_virtual(run_demo_async(config, out, plot=tmp_path / "chart.png"))
    printed = " ".join(out.getvalue().split())
    lines = frontier_lines(result.metrics, size="4K")
    assert len(lines) == 4
    for line in lines:
        assert line in printed
    assert set(result.metrics) == {*_FAST.split(","), "oracle-quality"}


def _m(name: str, ok: float, at_size: float, p50: float, p95: float) -> Metrics:
    """Figures for ``name``: share delivered, share at 4K, p50 and p95 (the rest zero)."""
    return Metrics(
        contender=name, requests=20, successes=round(20 * ok), success_rate=ok,
        at_size=at_size, sizes={}, p50_s=p50, p95_s=p95, p99_s=p95, p50_ok_s=None,
        p95_ok_s=None, attempts_per_request=1.0, billed_usd=0.0, possibly_billed_usd=0.0,
        cost_per_image_usd=None, cost_per_image_upper_usd=None, wall_s=0.0,
    )  # fmt: skip


def test_frontier_lines_say_which_preset_beats_the_waterfall_on_what() -> None:
    """latency on time, quality on the share at 4K, balanced on both and between them."""
    lines = frontier_lines(
        {
            "waterfall": _m("waterfall", 1.0, 0.0, 186, 267),
            "imagegate-latency": _m("imagegate-latency", 1.0, 0.0, 20, 28),
            "imagegate-balanced": _m("imagegate-balanced", 1.0, 0.35, 228, 239),
            "imagegate-quality": _m("imagegate-quality", 1.0, 0.4, 240, 251),
        },
        size="4K",
    )  # fmt: skip
    assert lines[0].startswith("imagegate delivered an image in time to 100% of the requests")
    assert lines[1].startswith("imagegate-latency answers sooner: 95% had an image within 28 s")
    assert "9.5× sooner" in lines[1]
    assert lines[2].startswith("imagegate-balanced beats the waterfall on both size and time")
    assert lines[2].endswith("It sits between the latency and quality presets on both.")
    assert lines[3].startswith("imagegate-quality delivers the 4K: 40% got the 4K asked for")


def test_frontier_lines_say_so_when_a_preset_does_not_beat_the_waterfall() -> None:
    """A preset that loses on its own axis is said to, with the figures; a lost delivery
    is named too; a waterfall that never got 95% an image is no time to beat."""
    lines = frontier_lines(
        {
            "waterfall": _m("waterfall", 0.9, 0.5, 100, math.inf),
            "imagegate-latency": _m("imagegate-latency", 0.8, 0.0, math.inf, math.inf),
            "imagegate-balanced": _m("imagegate-balanced", 1.0, 0.2, 90, 200),
            "imagegate-quality": _m("imagegate-quality", 1.0, 0.5, 120, 300),
        },
        size="4K",
    )  # fmt: skip
    assert lines[1].startswith("imagegate-latency did not answer sooner than the waterfall")
    assert "never (more than 5% got none)" in lines[1]
    assert lines[1].endswith("But it delivered to fewer requests: 80% against 90%.")
    assert lines[2].startswith("imagegate-balanced beats the waterfall on time but not on size")
    assert lines[3].startswith("imagegate-quality got no more 4K than the waterfall on this run")


def test_no_closing_lines_without_the_waterfall_or_a_preset() -> None:
    """Nothing to compare, nothing said."""
    latency = _m("imagegate-latency", 1.0, 0.0, 20, 28)
    assert frontier_lines({"imagegate-latency": latency}, size="4K") == []


def test_scoreboard_fits_seven_rows_in_80_columns() -> None:
    """Seven clients, one line each, nothing cut short on an 80-column terminal."""
    from rich.console import Console

    board = Scoreboard()
    names = [n for n in DEMO_CONFIG.contenders if n != "oracle"]
    for name in names:
        board.announce(name, 20, "waiting")
    board.contender_started("s", names[0], 20)
    for i in range(20):
        board.request_done("s", names[0], RequestRecord(i, True, 100.0 + i, "2K"))
    board.finish(names[0])
    out = io.StringIO()
    Console(file=out, width=80).print(board.render("outage, seed 0 — 1.0 s"))
    text = out.getvalue()
    assert "…" not in text
    body = [line for line in text.splitlines() if any(n in line for n in names)]
    assert len(body) == len(names)
    assert "waterfall ✓" in body[0]
    assert "20/20" in body[0]
    assert "0/20/0" in body[0]


class _Seen:
    """A progress display that keeps the records it is told of."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        """Nothing to do."""

    def request_done(self, scenario: str, contender: str, record: RequestRecord) -> None:
        """Keep the record."""
        self.records.append(record)

    def contender_done(self, scenario: str, contender: str, metrics: Metrics) -> None:
        """Nothing to do."""


def test_a_contender_run_apart_gives_the_same_records_as_in_process() -> None:
    """Same seed, same figures: the waterfall in a child process records what it records
    here, request for request (virtual time does not depend on the process)."""
    config = BenchConfig(requests=5, concurrency=5, contenders=("waterfall",))
    seen = _Seen()

    async def apart() -> ContenderRun:
        return await Apart("waterfall", config, seen).result()

    async def here() -> ContenderRun:
        return await run_contender("waterfall", config.scenarios[0], requests_for(config), config)

    far, near = run_virtual(apart()), run_virtual(here())
    assert far.records == near.records
    assert sorted(seen.records, key=lambda r: r.index) == far.records
    assert far.events is not None
    assert len(far.events) == len(near.events or [])


def test_a_contender_that_cannot_run_apart_is_reported() -> None:
    """A child that fails says why; the demo goes on without that contender."""
    config = BenchConfig(requests=2, concurrency=2, contenders=("no-such-contender",))

    async def apart() -> ContenderRun:
        return await Apart("no-such-contender", config, _Seen()).result()

    with pytest.raises(ApartFailed, match="no-such-contender could not run: KeyError"):
        run_virtual(apart())


def test_demo_without_litellm_leaves_it_out_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """LiteLLM not installed: no row for it, one note with the install command."""
    monkeypatch.setitem(sys.modules, "litellm", None)  # as if it were not installed
    argv = ["--requests", "2", "--contenders", "waterfall,litellm,imagegate-latency"]
    assert demo_main([*argv, "--plot", str(tmp_path / "c.png")]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "note: LiteLLM's Router is left out, as it is not installed: pip install" in out
    assert "imagegate[bench]" in out
    assert "│ litellm" not in out

"""Edits in the benchmark: the outage scenario with input images, and the client's memory
with large input images in flight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate.bench import bench_main
from imagegate.bench._edit_memory import measure_edit_memory

from .conftest import needs

OUTAGE = ["--scenario", "outage-2026-01-21", "--requests", "200", "--input-images", "2"]


def test_the_outage_with_two_input_images_delivers_every_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The 2026-01-21 outage, every request an edit of 2 images: all 200 delivered in the
    deadline (the Flux backup, which takes no input images, is skipped)."""
    out = tmp_path / "out.json"
    status = bench_main([*OUTAGE, "--contenders", "imagegate", "--json", str(out), "--quiet"])
    assert status == 0
    document = json.loads(out.read_text())
    assert document["config"]["input_images"] == 2
    metrics = document["scenarios"][0]["metrics"]["imagegate"]
    assert (metrics["requests"], metrics["successes"], metrics["success_rate"]) == (200, 200, 1.0)
    assert metrics["errors"] == {}


def test_input_images_with_a_contender_sending_none_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The waterfall sends no input images: the same command with it exits 2 and says
    what to drop, before anything runs."""
    out = tmp_path / "out.json"
    assert bench_main([*OUTAGE, "--contenders", "waterfall", "--json", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--input-images takes a count of 0 or more and imagegate contenders only" in err
    assert "drop waterfall" in err
    assert not out.exists()


@needs("psutil")
async def test_openai_edits_hold_under_three_copies_of_their_inputs() -> None:
    """4 concurrent gpt-image edits of 2 × 1 MB noise PNGs through the router, in a child
    process: the multipart bodies are streamed from the caller's bytes, so the client
    holds under 3 copies of the inputs at its peak (the caller's own included)."""
    result = await measure_edit_memory(
        "openai", concurrency=4, images=2, image_bytes=2**20, latency_s=1.0
    )
    assert result.bytes_in_flight == pytest.approx(8 * 2**20, rel=0.01)
    assert result.peak_rss >= result.baseline_rss
    assert result.copies < 3.0, result


@needs("psutil")
async def test_gemini_edits_hold_the_sdk_copies_of_only_a_budget_of_inputs() -> None:
    """The same over gemini: google-genai keeps each input as a base64 string in its request
    dict and again in the JSON body for the whole call, ~2.7 more copies per call in flight
    (docs/editing.md). The adapter sends at most its budget of input bytes at once (here
    2 MiB: one edit of 2 × 1 MiB at a time), so the client holds under 3 copies; without
    the budget these four edits hold about 4.5."""
    result = await measure_edit_memory(
        "gemini",
        concurrency=4,
        images=2,
        image_bytes=2**20,
        latency_s=0.5,
        inline_bytes_in_flight=2 * 2**20,
    )
    assert result.bytes_in_flight == pytest.approx(8 * 2**20, rel=0.01)
    assert 1.0 <= result.copies < 3.0, result

"""`imagegate config check FILE`: the resolved configuration, or every mistake in the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagegate._presets import PRESETS
from imagegate.cli import main

GOOD = """
preset = "quality"
max_in_flight = 8

[retry]
attempts = 2

[[routes]]
provider = "gemini"
model = "gemini-3-pro-image"
api_key_env = "GEMINI_API_KEY"
rate_limit = { rpm = 10 }

[[routes]]
provider = "openai_compatible"
model = "nano-banana-pro"
base_url = "https://aggregator.example/v1?key=AIzaSyA-not-a-real-key-0123456789"
mode = "chat"
"""

BAD = """
max_in_flight = 0

[retry]
attempt = 3

[[routes]]
provider = "openai"
model = "gpt-image-1.5"
backpu = true
"""


def _check(tmp_path: Path, text: str) -> int:
    path = tmp_path / "imagegate.toml"
    path.write_text(text, encoding="utf-8")
    return main(["config", "check", str(path)])


def test_a_good_file_prints_what_the_router_would_run_with(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 0 and the resolved configuration as JSON: the file's settings, the preset's
    policies where the file sets none, and no secret."""
    assert _check(tmp_path, GOOD) == 0
    out, err = capsys.readouterr()
    assert err == ""
    resolved = json.loads(out)
    assert (resolved["preset"], resolved["max_in_flight"], resolved["order"]) == (
        "quality",
        8,
        PRESETS["quality"].order,
    )
    assert resolved["retry"]["attempts"] == 2
    assert resolved["breaker"]["failure_rate"] == PRESETS["quality"].breaker.failure_rate
    quality_hedge = PRESETS["quality"].hedge
    assert quality_hedge is not None
    assert resolved["hedge"]["race_share"] == quality_hedge.race_share
    assert resolved["timeouts"]["fallback_share"] == 0.37
    gemini, aggregator = resolved["routes"]
    assert (gemini["name"], gemini["api_key_env"], gemini["rate_limit"]["rpm"]) == (
        "gemini/gemini-3-pro-image",
        "GEMINI_API_KEY",
        10,
    )
    assert aggregator["options"] == {"mode": "chat"}
    assert "not-a-real-key" not in out


def test_a_bad_file_lists_every_mistake_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 1, nothing on stdout, and each mistake on stderr with its path and the fix."""
    assert _check(tmp_path, BAD) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f"imagegate: {tmp_path / 'imagegate.toml'}: 3 problems:",
        "  - routes[0].backpu is neither a route setting nor an option of 'openai'; "
        "did you mean `backup`?",
        "  - max_in_flight must be at least 1",
        "  - retry.attempt is not a known key; did you mean `attempts`?",
    ]


def test_a_missing_file_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that is not there is one line on stderr, exit 1."""
    assert main(["config", "check", str(tmp_path / "nope.toml")]) == 1
    assert capsys.readouterr().err.strip() == (
        f"imagegate: config file not found: {tmp_path / 'nope.toml'}"
    )


def test_status_prints_the_health_of_the_router_a_file_builds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``imagegate status --config FILE``: one row per route and size, as a table or as
    JSON; a quota shows what it allows; no key anywhere (nothing is sent upstream)."""
    monkeypatch.setenv("GEMINI_API_KEY", "AIzaSyA-status-test-key-0123456789ab")
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", "sk-status-test-key-0123456789")
    path = tmp_path / "imagegate.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert main(["status", "--config", str(path), "--json"]) == 0
    out, err = capsys.readouterr()
    rows = json.loads(out)
    gemini = [r for r in rows if r["route"] == "gemini/gemini-3-pro-image"]
    assert [r["size"] for r in gemini] == ["1K", "2K", "4K"]
    assert gemini[0]["breaker"] == "closed"
    assert gemini[0]["calls"] == 0
    assert gemini[0]["quota"]["requests_now"] >= 1
    assert main(["status", "--config", str(path)]) == 0
    table, _ = capsys.readouterr()
    assert "gemini/gemini-3-pro-image" in table
    assert "closed" in table
    assert "status-test-key" not in out + err + table
    assert main(["status", "--config", str(tmp_path / "nope.toml")]) == 1
    assert "config file not found" in capsys.readouterr().err

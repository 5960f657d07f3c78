"""The command line, run as a user would: providers, generate, simulate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from editing._images import png
from imagegate import GeneratedImage
from imagegate.cli import main
from imagegate.testing import make_jpeg, make_png

CLI = [sys.executable, "-m", "imagegate.cli"]


def test_providers_lists_builtins(capsys: pytest.CaptureFixture[str]) -> None:
    """`imagegate providers` prints each provider with its distribution and version."""
    assert main(["providers"]) == 0
    out = capsys.readouterr().out
    assert "fake" in out
    assert "imagegate" in out


def test_generate_writes_a_real_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`imagegate generate` with the fake route writes a valid PNG of the requested tier."""
    out = tmp_path / "cat.png"
    status = main(["generate", "a cat", "--route", "fake/any", "--size", "2K", "--out", str(out)])
    assert status == 0
    image = GeneratedImage(out.read_bytes())
    assert (image.size, image.mime_type) == ("2K", "image/png")
    assert "via fake/any" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "", "--route", "fake/m"], "prompt must not be empty"),
        (["generate", "x", "--route", "nope/m"], "unknown provider 'nope'"),
        (["generate", "x", "--route", "fake/m", "--aspect-ratio", "0:1"], "aspect_ratio"),
    ],
)
def test_generate_errors_are_one_clear_line(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad input or configuration prints one line on stderr and exits 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_generate_without_key_names_the_env_var(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new user without keys gets one line naming OPENAI_API_KEY, exit 2."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    assert main(["generate", "a lighthouse", "--route", "openai/gpt-image-1.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "OPENAI_API_KEY" in err[0]


@pytest.mark.parametrize(
    ("route", "mime", "tier"),
    [
        ("openai/gpt-image-1.5", "image/png", "1K"),
        ("gemini/gemini-3-pro-image", "image/jpeg", "1K"),  # Gemini 3 answers JPEG
        ("flux/flux-pro-1.1-ultra", "image/jpeg", "2K"),  # ultra always renders ~4 MP
    ],
)
def test_generate_on_the_simulator_writes_a_real_image(
    route: str, mime: str, tier: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--simulate healthy needs no key and writes a valid image under the right suffix."""
    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "GOOGLE_API_KEY", "BFL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    out = tmp_path / "image.png"
    argv = ["generate", "a lighthouse [sim:success]", "--route", route, "--simulate", "healthy"]
    assert main([*argv, "--time-scale", "0.005", "--out", str(out)]) == 0
    written = out if mime == "image/png" else out.with_suffix(".jpg")
    image = GeneratedImage(written.read_bytes())
    assert image.mime_type == mime
    assert image.size == tier


def test_simulate_rejects_an_unknown_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown scenario name is one clear line, exit 2."""
    assert main(["simulate", "--scenario", "no-such-scenario", "--port", "0"]) == 2
    assert "no built-in scenario 'no-such-scenario'" in capsys.readouterr().err


def test_simulate_serves_and_prints_base_urls() -> None:
    """`imagegate simulate` runs in the foreground and prints the URLs and env vars to use."""
    proc = subprocess.Popen(
        [*CLI, "simulate", "--scenario", "healthy", "--port", "0", "--time-scale", "0.001"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "BFL_API_KEY" in line:
                break
        text = "".join(lines)
        assert "http://127.0.0.1:" in text
        assert "export GEMINI_API_KEY=sim-gemini-key" in text
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_generate_prints_each_attempt_and_a_downgrade(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On the simulator, every attempt is printed as it starts and ends; the result line
    says the time is simulated and that the 4K asked for failed, with how."""
    prompt = "a lighthouse [sim@gemini/4K:overloaded] [sim:success~20]"
    argv = ["generate", prompt, "--route", "gemini/gemini-3-pro-image", "--size", "4K"]
    out = tmp_path / "image.png"
    # 10 real ms a simulated second: a CPU stall on a busy machine must not pass for
    # a slow 2K attempt (at 1 ms, 100 ms of stall were 100 simulated seconds).
    status = main([*argv, "--simulate", "healthy", "--time-scale", "0.01", "--out", str(out)])
    assert status == 0
    captured = capsys.readouterr()
    progress = captured.err.splitlines()
    assert "times are simulated seconds" in progress[0]
    started = [line for line in progress if "→" in line]
    ended = [line for line in progress if "←" in line]
    assert "gemini/gemini-3-pro-image 4K: attempt 1 starts" in started[0]
    assert "4K: failed, Overloaded (HTTP 503)" in ended[0]
    assert len(started) == len(ended)
    assert "delivered 2K" in ended[-1]
    result = captured.out.strip()
    assert "(2K) via gemini/gemini-3-pro-image in " in result
    assert "simulated s (" in result
    assert "downgraded from the 4K asked for (4K: failed, Overloaded (HTTP 503)" in result


def test_generate_at_the_size_asked_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An image at the size asked for is no downgrade; one attempt, one start, one end
    (times on a scaled clock move with the machine's load, so none is asserted)."""
    argv = ["generate", "a cat [sim:success~30]", "--route", "gemini/gemini-3-pro-image"]
    out = tmp_path / "image.png"
    status = main([*argv, "--size", "2K", "--simulate", "healthy", "--time-scale", "0.005",
                   "--out", str(out)])  # fmt: skip
    assert status == 0
    captured = capsys.readouterr()
    assert captured.out.strip().endswith("at the 2K asked for")
    assert " simulated s (" in captured.out
    lines = [line for line in captured.err.splitlines() if "gemini/gemini-3-pro-image 2K" in line]
    assert len(lines) == 2
    assert lines[0].endswith("attempt 1 starts")
    assert "delivered 2K after " in lines[1]


def test_generate_edits_with_images_and_a_mask(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--image (repeated) and --mask send an edit; without --aspect-ratio the result
    follows the first image (16:9 here)."""
    first, second, mask = tmp_path / "a.png", tmp_path / "b.jpg", tmp_path / "mask.png"
    first.write_bytes(make_png(1920, 1080))
    second.write_bytes(make_jpeg(300, 300))
    mask.write_bytes(png(1920, 1080))
    out = tmp_path / "edit.png"
    argv = ["generate", "a red door", "--route", "fake/any", "--image", str(first),
            "--image", str(second), "--mask", str(mask), "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    image = GeneratedImage(out.read_bytes())
    assert image.width > image.height
    assert "via fake/any" in capsys.readouterr().out


def test_generate_with_a_bad_image_is_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing --image, or a mask without alpha, is one line naming it, exit 2."""
    photo = tmp_path / "a.png"
    photo.write_bytes(make_png(64, 48))
    base = ["generate", "x", "--route", "fake/any", "--out", str(tmp_path / "o.png")]
    assert main([*base, "--image", str(photo), "--image", str(tmp_path / "gone.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "images[1]: no such file" in err
    assert main([*base, "--image", str(photo), "--mask", str(photo)]) == 2
    assert "mask: a PNG without an alpha channel" in capsys.readouterr().err

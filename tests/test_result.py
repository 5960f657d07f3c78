"""GeneratedImage reads its real size from the header; results and attempts."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from imagegate import Attempt, GeneratedImage, ImageResult, SkippedOption
from imagegate.testing import make_png


def _encode(fmt: str, width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, fmt)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime"), [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")]
)
def test_header_gives_type_and_size(fmt: str, mime: str) -> None:
    """Width, height and type come from the PNG/JPEG/WebP header."""
    image = GeneratedImage(_encode(fmt, 1376, 768), mime_type="image/png")
    assert (image.width, image.height, image.mime_type) == (1376, 768, mime)
    assert image.declared_mime_type == "image/png"
    assert image.size == "1K"


def test_progressive_jpeg_and_lossless_webp() -> None:
    """Progressive JPEG (SOF2) and lossless WebP (VP8L) headers are read too."""
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480)).save(buffer, "JPEG", progressive=True)
    assert (GeneratedImage(buffer.getvalue()).width, GeneratedImage(buffer.getvalue()).height) == (
        640,
        480,
    )
    buffer = io.BytesIO()
    Image.new("RGBA", (300, 200)).save(buffer, "WEBP", lossless=True)
    assert GeneratedImage(buffer.getvalue()).height == 200


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, this is text",
        b"<html>bad gateway</html>",
        b'{"error": 1}',
        b"GIF89a" + b"\0" * 20,
    ],
)
def test_refuses_bytes_that_are_not_an_image(data: bytes) -> None:
    """Text, HTML, JSON and unsupported formats are refused."""
    with pytest.raises(ValueError, match="not a PNG, JPEG or WebP"):
        GeneratedImage(data)


def test_refuses_truncated_header() -> None:
    """A PNG cut off before its size is refused, not read as garbage."""
    with pytest.raises(ValueError, match="png"):
        GeneratedImage(make_png(64, 64)[:20])


def test_save_writes_the_bytes(tmp_path: Path) -> None:
    """save() writes the bytes unchanged and adds the extension when missing."""
    image = GeneratedImage(make_png(100, 50))
    path = image.save(tmp_path / "out")
    assert path.suffix == ".png"
    assert path.read_bytes() == image.data
    assert image.to_pil().size == (100, 50)


def test_repr_shows_size_not_bytes() -> None:
    """The repr is short even for a large image."""
    assert repr(GeneratedImage(make_png(20, 10))).startswith("GeneratedImage(image/png, 20x10,")


def test_attempt_duration() -> None:
    """An attempt knows how long it took."""
    attempt = Attempt("fake/m", "1K", started=2.0, ended=7.5, outcome="success")
    assert attempt.duration_s == 5.5


def test_skipped_option_reads_as_route_size_and_reason() -> None:
    """A SkippedOption is frozen and prints as 'route@size: detail' (or its reason)."""
    breaker = SkippedOption("gemini/gemini-3-pro-image", "4K", "breaker_open", "breaker open")
    assert str(breaker) == "gemini/gemini-3-pro-image@4K: breaker open"
    assert str(SkippedOption("a/m", "1K", "not_needed")) == "a/m@1K: not needed"
    with pytest.raises(AttributeError):
        breaker.reason = "quota"  # type: ignore[misc]


def test_a_result_built_without_skips_has_none() -> None:
    """ImageResult.skipped defaults to an empty tuple (results built by hand stay valid)."""
    image = GeneratedImage(make_png(1024, 1024))
    result = ImageResult(
        images=(image,),
        route="a/m",
        provider="a",
        model="m",
        requested_size="1K",
        size="1K",
        downgraded=False,
        attempts=(),
        cost_usd=0.0,
        latency_s=1.0,
    )
    assert result.skipped == ()

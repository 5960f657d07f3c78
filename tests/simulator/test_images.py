"""make_jpeg: a hand-written baseline JPEG encoder whose output real decoders accept."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from imagegate._result import GeneratedImage
from imagegate.testing._images import make_jpeg, make_png


@pytest.mark.parametrize(
    ("width", "height"),
    [(1, 1), (17, 9), (1024, 768), (1001, 333), (2752, 1536), (4096, 4096)],
)
def test_jpeg_decodes_at_the_exact_size(width: int, height: int) -> None:
    """Pillow decodes every size, including sides that are not multiples of 8."""
    data = make_jpeg(width, height)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.format == "JPEG"
        assert image.mode == "RGB"
        assert image.size == (width, height)


def test_jpeg_header_is_read_by_generated_image() -> None:
    """GeneratedImage sniffs the JPEG type and reads the size from the SOF header."""
    image = GeneratedImage(make_jpeg(1440, 810))
    assert (image.mime_type, image.width, image.height) == ("image/jpeg", 1440, 810)


def test_jpeg_draws_the_same_bands_as_png() -> None:
    """The flat colour bands come out within JPEG's rounding of the PNG's colours."""
    jpeg = Image.open(io.BytesIO(make_jpeg(64, 64, seed=3))).convert("RGB")
    png = Image.open(io.BytesIO(make_png(64, 64, seed=3))).convert("RGB")
    for y in (3, 20, 60):
        expected = png.getpixel((10, y))
        got = jpeg.getpixel((10, y))
        assert isinstance(expected, tuple)
        assert isinstance(got, tuple)
        assert all(abs(a - b) <= 3 for a, b in zip(expected, got, strict=True)), (y, got)


def test_seeds_differ_and_results_are_cached() -> None:
    """Different seeds give different images; the same arguments give the same object."""
    assert make_jpeg(256, 256, seed=1) != make_jpeg(256, 256, seed=2)
    assert make_jpeg(256, 256, seed=1) is make_jpeg(256, 256, seed=1)


def test_realistic_payload_is_photo_sized_and_valid() -> None:
    """The realistic payload is about half a byte per pixel and still decodes."""
    small = make_jpeg(2048, 2048)
    realistic = make_jpeg(2048, 2048, payload="realistic")
    assert len(realistic) > 0.3 * 2048 * 2048 > 10 * len(small)
    with Image.open(io.BytesIO(realistic)) as image:
        image.load()
        assert image.size == (2048, 2048)


@pytest.mark.parametrize(("width", "height"), [(0, 10), (10, -1), (70000, 10)])
def test_impossible_sizes_are_refused(width: int, height: int) -> None:
    """Sides must lie within 1–65535 (the JPEG header's range)."""
    with pytest.raises(ValueError, match="JPEG sides"):
        make_jpeg(width, height)

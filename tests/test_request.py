"""ImageRequest validation and the tier ↔ pixel helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate import SIZES, ImageRequest, InvalidRequestError, pixels_for, tier_for_pixels
from imagegate._request import next_size_down, parse_aspect_ratio, snap_aspect_ratio
from imagegate._sizes import COMMON_ASPECT_RATIOS
from imagegate.testing import make_png


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": "x", "size": "8K"}, "size"),
        ({"prompt": "x", "aspect_ratio": "0:1"}, "aspect_ratio"),
        ({"prompt": "x", "aspect_ratio": "16x9"}, "aspect_ratio"),
        ({"prompt": "x", "aspect_ratio": "9:1"}, "aspect_ratio"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "deadline_s": 0}, "deadline_s"),
        ({"prompt": "x", "deadline": -5}, "deadline"),
        ({"prompt": "x", "size": "1K", "min_size": "2K"}, None),
        ({"prompt": "x", "colour": "red"}, "colour"),
    ],
)
def test_bad_input_names_the_field(fields: dict[str, object], field: str | None) -> None:
    """Each invalid field raises InvalidRequestError whose message and .field name it."""
    with pytest.raises(InvalidRequestError) as info:
        ImageRequest.build(**fields)  # type: ignore[arg-type]
    if field is not None:
        assert info.value.field == field
        assert field in str(info.value)
    else:
        assert "min_size 2K is larger than size 1K" in str(info.value)


def test_invalid_request_is_a_value_error() -> None:
    """Callers catching ValueError also catch bad requests."""
    with pytest.raises(ValueError, match="prompt must not be empty"):
        ImageRequest.build("")


def test_valid_request_is_normalised() -> None:
    """Whitespace in the ratio is normalised and `deadline` is an alias of deadline_s."""
    request = ImageRequest.build("a cat", size="4K", aspect_ratio=" 16 : 9", deadline=30)
    assert request.aspect_ratio == "16:9"
    assert request.deadline_s == 30
    assert request.sizes_allowed == ("4K", "2K", "1K")


def test_sizes_allowed_respects_min_size_and_downgrade() -> None:
    """The ladder stops at min_size, and is only the requested size without downgrade."""
    assert ImageRequest(prompt="x", size="4K", min_size="2K").sizes_allowed == ("4K", "2K")
    assert ImageRequest(prompt="x", size="4K", allow_downgrade=False).sizes_allowed == ("4K",)
    assert next_size_down("1K") is None


@pytest.mark.parametrize(
    ("size", "ratio", "expected"),
    [("1K", "1:1", (1024, 1024)), ("2K", "1:1", (2048, 2048)), ("1K", "16:9", (1376, 768))],
)
def test_pixels_for_known_values(size: str, ratio: str, expected: tuple[int, int]) -> None:
    """Nominal sizes match the providers' published values where they agree."""
    assert pixels_for(size, ratio) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("width", "height", "tier"),
    [
        (1024, 1024, "1K"),
        (1584, 672, "1K"),  # Gemini 21:9 at 1K
        (1440, 1440, "1K"),  # Flux pro's largest square is not 2K
        (2752, 1536, "2K"),  # 4 MP
        (3840, 2160, "2K"),  # OpenAI's "4K" is 8.3 MP
        (4096, 4096, "4K"),
        (512, 512, None),
    ],
)
def test_tier_for_pixels(width: int, height: int, tier: str | None) -> None:
    """The delivered tier follows the pixel count, not the provider's naming."""
    assert tier_for_pixels(width, height) == tier


@given(
    size=st.sampled_from(SIZES),
    w=st.integers(1, 8),
    h=st.integers(1, 8),
)
def test_pixels_round_trip_to_the_same_tier(size: str, w: int, h: int) -> None:
    """Any tier at any ratio within 1:8..8:1 maps to pixels that read back as that tier."""
    width, height = pixels_for(size, f"{w}:{h}")  # type: ignore[arg-type]
    assert tier_for_pixels(width, height) == size
    assert width % 32 == 0
    assert height % 32 == 0


@pytest.mark.parametrize("text", ["", "1", "1:2:3", "a:b", "-1:2", "1:0", "1:9"])
def test_parse_aspect_ratio_rejects(text: str) -> None:
    """Malformed or out-of-range ratios are refused with a message quoting them."""
    with pytest.raises(ValueError, match="aspect ratio"):
        parse_aspect_ratio(text)


@pytest.mark.parametrize(
    ("width", "height", "ratio"),
    [
        (1920, 1080, "16:9"),
        (1080, 1920, "9:16"),
        (1000, 1000, "1:1"),
        (1200, 1000, "5:4"),
        (1024, 768, "4:3"),
        (1536, 1024, "3:2"),
        (1584, 672, "21:9"),  # Gemini's 21:9 1K
        (3000, 1000, "21:9"),
        (1000, 3000, "1:4"),  # no 9:21 among the common ratios
        (5000, 1000, "4:1"),
        (10_000, 100, "8:1"),  # beyond 8:1 snaps to the extreme
        (100, 10_000, "1:8"),
    ],
)
def test_snap_aspect_ratio(width: int, height: int, ratio: str) -> None:
    """An input image's pixel size snaps to the nearest common ratio on a log scale."""
    assert snap_aspect_ratio(width, height) == ratio


def test_snapped_ratios_are_valid_and_common() -> None:
    """Every ratio a snap can give is a valid aspect ratio of the common set."""
    for ratio in COMMON_ASPECT_RATIOS:
        w, h = parse_aspect_ratio(ratio)
        assert snap_aspect_ratio(w * 100, h * 100) == ratio


def test_aspect_ratio_none_follows_the_first_image_only_with_images() -> None:
    """aspect_ratio None (or not given) is 1:1 for text, the first image's otherwise; a
    ratio given explicitly is kept."""
    wide, square = make_png(1920, 1080), make_png(500, 500)
    assert ImageRequest.build("x").aspect_ratio == "1:1"
    assert ImageRequest.build("x", aspect_ratio=None).aspect_ratio == "1:1"
    assert ImageRequest.build("x", images=[wide, square]).aspect_ratio == "16:9"
    assert ImageRequest.build("x", images=[square, wide], aspect_ratio=None).aspect_ratio == "1:1"
    assert ImageRequest.build("x", images=[wide], aspect_ratio="2:3").aspect_ratio == "2:3"
    request = ImageRequest.build("x", images=[wide])
    assert isinstance(request.images, tuple)
    assert request.mask is None
    assert ImageRequest.build("x").images == ()

"""ImageRequest validation and the tier ↔ pixel helpers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate import SIZES, ImageRequest, InvalidRequestError, pixels_for, tier_for_pixels
from imagegate._request import next_size_down, parse_aspect_ratio


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

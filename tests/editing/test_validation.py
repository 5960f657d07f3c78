"""Input images checked at the boundary: each bad input fails the request before any
provider call, with an InvalidRequestError naming the input (``images[2]``, ``mask``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from imagegate import FakeClock, GeneratedImage, ImageRequest, Route, Router
from imagegate._inputs import (
    MAX_INPUT_IMAGE_BYTES,
    MAX_INPUT_IMAGES,
    MAX_INPUT_TOTAL_BYTES,
    load_inputs,
)
from imagegate.errors import InvalidRequestError
from imagegate.testing import FakeProvider, make_jpeg, make_png

from ._images import png

PHOTO = png(64, 48, colour_type=2)
MASK = png(64, 48)


def _bad_inputs(tmp_path: Path) -> list[tuple[dict[str, Any], str, str]]:
    """(generate arguments, field, what the message says) for each kind of bad input."""
    truncated = make_png(64, 48)[:-20]
    folder = tmp_path / "folder"
    folder.mkdir()
    huge = tmp_path / "huge.png"
    with huge.open("wb") as file:  # sparse: no disk used, but its size is above the limit
        file.truncate(MAX_INPUT_IMAGE_BYTES + 1)
    return [
        ({"images": [PHOTO, PHOTO, b"GIF89a..."]}, "images", "images[2]: not a PNG, JPEG or WebP"),
        ({"images": [truncated]}, "images", "images[0]: truncated PNG image"),
        ({"images": [tmp_path / "nope.png"]}, "images", "images[0]: no such file: "),
        ({"images": [PHOTO, str(folder)]}, "images", "images[1]: not a file: "),
        ({"images": [huge]}, "images", f"images[0]: {MAX_INPUT_IMAGE_BYTES + 1:,} bytes, above"),
        ({"images": [42]}, "images", "images[0]: expected a path, bytes or a GeneratedImage"),
        ({"images": "photo.png"}, "images", "images: expected a list of images, got str"),
        ({"images": [PHOTO] * 17}, "images", f"more than {MAX_INPUT_IMAGES} input images"),
        ({"mask": MASK}, "mask", "mask: a mask needs an image to edit"),
        ({"images": [PHOTO], "mask": png(32, 48)}, "mask", "mask: 32x48, but images[0] is 64x48"),
        ({"images": [PHOTO], "mask": PHOTO}, "mask", "mask: a PNG without an alpha channel"),
        ({"images": [PHOTO], "mask": make_jpeg(64, 48)}, "mask", "mask: a JPEG image; a mask"),
        ({"images": [PHOTO], "mask": b"\x89PNG"}, "mask", "mask: "),
    ]


async def test_bad_inputs_fail_before_any_call(clock: FakeClock, tmp_path: Path) -> None:
    """Each bad input fails the request with a message naming it; the provider is never
    called and no clock time passes."""
    fake = FakeProvider(clock=clock)
    async with Router([Route(fake, model="m")], clock=clock) as router:
        for arguments, field, words in _bad_inputs(tmp_path):
            with pytest.raises(InvalidRequestError) as info:
                await router.generate("edit it", **arguments)
            assert words in str(info.value), arguments
            assert info.value.field == field
    assert fake.calls == []
    assert clock.now() == 0.0


def test_bytes_above_the_limit_are_refused_unread() -> None:
    """Bytes above the per-image limit are refused by their length, before any parsing."""
    data = bytearray(MAX_INPUT_IMAGE_BYTES + 1)
    with pytest.raises(InvalidRequestError, match=r"images\[0\]: 52,428,801 bytes, above"):
        load_inputs([memoryview(data)])


def test_the_total_of_the_inputs_is_capped() -> None:
    """Images each within the limit are refused once together above the total limit."""
    each = MAX_INPUT_TOTAL_BYTES // 2
    big = GeneratedImage(png(8, 8, padding=each))
    with pytest.raises(InvalidRequestError) as info:
        load_inputs([big, big])
    assert "images[1]: the inputs up to it come to" in str(info.value)
    assert f"above the limit of {MAX_INPUT_TOTAL_BYTES:,}" in str(info.value)


@pytest.mark.parametrize("colour_type", [6, 4])
def test_masks_with_alpha_are_taken(colour_type: int) -> None:
    """RGBA and grey-with-alpha PNG masks of the first image's size are accepted."""
    inputs = load_inputs([PHOTO], png(64, 48, colour_type=colour_type))
    assert inputs.mask is not None
    assert inputs.mask.mime_type == "image/png"


def test_every_kind_of_input_is_read_as_given(tmp_path: Path) -> None:
    """Paths (str and PathLike), bytes, bytearray, memoryview and GeneratedImage give the
    same bytes, unchanged; a GeneratedImage is kept as the very object."""
    path = tmp_path / "photo.png"
    path.write_bytes(PHOTO)
    given = GeneratedImage(PHOTO)
    kinds: list[object] = [str(path), path, PHOTO, bytearray(PHOTO), memoryview(PHOTO), given]
    inputs = load_inputs(kinds)
    assert all(image.data == PHOTO for image in inputs.images)
    assert inputs.images[-1] is given
    assert inputs.images[2].data is PHOTO  # bytes are not copied


def test_the_suffix_is_not_trusted(tmp_path: Path) -> None:
    """A JPEG saved as .png is read as the JPEG it is; text saved as .png is refused."""
    liar = tmp_path / "photo.png"
    liar.write_bytes(make_jpeg(40, 30))
    assert load_inputs([liar]).images[0].mime_type == "image/jpeg"
    liar.write_text("not an image at all")
    with pytest.raises(InvalidRequestError, match=r"images\[0\]: not a PNG"):
        load_inputs([liar])


def test_the_request_model_checks_inputs_too() -> None:
    """ImageRequest built directly reads raw inputs, and refuses bad ones (ValueError)."""
    request = ImageRequest(prompt="x", images=[PHOTO], mask=MASK)
    assert request.images[0].width == 64
    assert request.aspect_ratio == "4:3"
    with pytest.raises(ValueError, match=r"images\[0\]: not a PNG"):
        ImageRequest(prompt="x", images=[b"nope"])


def test_a_path_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is opened once, however many checks its image goes through."""
    path = tmp_path / "photo.png"
    path.write_bytes(PHOTO)
    opened: list[str] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.fspath(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", counting_open)
    ImageRequest.build("x", images=[path], mask=MASK)
    assert opened == [os.fspath(path)]

"""Edits and reference images through every adapter against the simulator: the images
reach the upstream exactly as sent and in order, the answer comes back at the asked tier,
and what a model cannot take is refused before any call or mapped from the upstream's
refusal."""

from __future__ import annotations

import hashlib
import io
from typing import Any

import pytest
from PIL import Image

from imagegate._provider import Capabilities
from imagegate._result import GeneratedImage
from imagegate.errors import ContentBlocked, InvalidRequestError, Overloaded
from imagegate.providers._google import GoogleGenAIProvider, http_options
from imagegate.providers._inputs import refuse_inputs
from imagegate.testing._images import make_jpeg, make_png
from imagegate.testing.simulator import Simulator

from ._support import ask as plain_ask

# (provider, model, most input images it takes, tier asked)
EDITORS = [
    ("gemini", "gemini-3-pro-image", 14, "2K"),
    ("vertex", "gemini-3.1-flash-image", 14, "1K"),
    ("openai", "gpt-image-1.5", 16, "1K"),
    ("openai_compatible", "google/gemini-3-pro-image", 14, "1K"),
    ("flux", "flux-kontext-pro", 4, "1K"),
    ("flux", "flux-2-pro", 8, "2K"),
]


def ask(prompt: str, model: str, *args: Any, **kwargs: Any) -> Any:
    """A request with an attempt timeout long enough for Flux, which times its attempts
    on the simulator's fast clock (a base64 body takes real milliseconds to send)."""
    kwargs.setdefault("timeout_s", 1e6)
    return plain_ask(prompt, model, *args, **kwargs)


def png(width: int = 640, height: int = 480, seed: int = 1) -> GeneratedImage:
    """An opaque PNG input image."""
    return GeneratedImage(make_png(width, height, seed=seed))


def jpeg(width: int = 512, height: int = 512, seed: int = 2) -> GeneratedImage:
    """A JPEG input image."""
    return GeneratedImage(make_jpeg(width, height, seed=seed))


def alpha_mask(width: int, height: int) -> GeneratedImage:
    """A PNG mask with an alpha channel: transparent (to edit) on its left half."""
    mask = Image.new("RGBA", (width, height), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, width // 2, height))
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return GeneratedImage(buffer.getvalue())


def digests(*images: GeneratedImage) -> tuple[str, ...]:
    """The SHA-256 of each image, as the simulator's event log records them."""
    return tuple(hashlib.sha256(image.data).hexdigest() for image in images)


@pytest.mark.parametrize(("provider", "model", "most", "size"), EDITORS)
async def test_one_input_image_is_received_and_the_edit_delivered(
    sim: Simulator, make: Any, provider: str, model: str, most: int, size: str
) -> None:
    """An edit with one input image: the upstream got exactly it, the tier is delivered."""
    image = png()
    response = await make(provider).generate(
        ask("make it dusk [sim:success]", model, size, images=(image,))
    )
    assert response.images[0].size == size
    (event,) = sim.events
    assert event.outcome == "success"
    assert event.images == digests(image)
    assert event.mask is None


@pytest.mark.parametrize(("provider", "model", "most", "size"), EDITORS)
async def test_several_input_images_arrive_in_order(
    sim: Simulator, make: Any, provider: str, model: str, most: int, size: str
) -> None:
    """Up to the model's limit, every input image reaches the upstream, in the caller's
    order, whatever their types."""
    images = (png(seed=3), jpeg(seed=4), png(320, 320, seed=5), jpeg(800, 600, seed=6))[:most]
    response = await make(provider).generate(
        ask("blend these [sim:success]", model, size, images=images)
    )
    assert response.images[0].size == size
    assert sim.events[-1].images == digests(*images)


async def test_openai_edit_with_a_mask_sends_it_for_the_first_image(
    sim: Simulator, make: Any
) -> None:
    """gpt-image takes several images and a mask; the mask reaches the upstream too."""
    first, second = png(512, 512, seed=7), jpeg(seed=8)
    mask = alpha_mask(512, 512)
    response = await make("openai").generate(
        ask("a window here [sim:success]", "gpt-image-1", images=(first, second), mask=mask)
    )
    assert response.images[0].size == "1K"
    (event,) = sim.events
    assert event.images == digests(first, second)
    assert event.mask == digests(mask)[0]


async def test_dall_e_2_edit_takes_one_square_png_with_a_mask(sim: Simulator, make: Any) -> None:
    """dall-e-2: one square PNG and its mask, through the same edit endpoint."""
    image, mask = png(1024, 1024, seed=9), alpha_mask(1024, 1024)
    response = await make("openai").generate(
        ask("add a boat [sim:success]", "dall-e-2", images=(image,), mask=mask)
    )
    assert (response.images[0].width, response.images[0].height) == (1024, 1024)
    assert sim.events[-1].mask == digests(mask)[0]


async def test_a_mask_without_alpha_is_refused_by_the_upstream(sim: Simulator, make: Any) -> None:
    """OpenAI refuses a mask without an alpha channel: a 400 on ``mask``, mapped to an
    `InvalidRequestError` that is not retried."""
    image = png(512, 512)
    with pytest.raises(InvalidRequestError) as caught:
        await make("openai").generate(
            ask("a door [sim:success]", "gpt-image-1.5", images=(image,), mask=png(512, 512, 3))
        )
    assert caught.value.field == "mask"
    assert caught.value.status == 400
    assert sim.events[-1].outcome == "invalid_request"


async def test_dall_e_2_refuses_a_non_square_image(sim: Simulator, make: Any) -> None:
    """dall-e-2's own rule (a square image), checked upstream, comes back as invalid."""
    with pytest.raises(InvalidRequestError, match="equal width and height"):
        await make("openai").generate(
            ask("x [sim:success]", "dall-e-2", images=(png(800, 600),), mask=alpha_mask(800, 600))
        )


LIMIT_BREAKERS = [
    (
        "gemini",
        "gemini-2.5-flash-image",
        {"images": tuple(png(seed=s) for s in range(4))},
        "images",
    ),
    ("vertex", "gemini-3-pro-image", {"mask": png()}, "mask"),
    ("openai", "dall-e-2", {"images": (jpeg(),)}, "images"),
    ("openai", "dall-e-3", {"images": (png(),)}, "images"),
    ("openai_compatible", "black-forest-labs/flux.2-pro", {"images": (png(),)}, "images"),
    ("flux", "flux-kontext-max", {"images": tuple(png(seed=s) for s in range(5))}, "images"),
    ("flux", "flux-pro-1.1-ultra", {"images": (png(),)}, "images"),
    ("openai", "gpt-image-1.5", {"images": (png(512, 512),), "mask": alpha_mask(256, 256)}, "mask"),
]


@pytest.mark.parametrize(("provider", "model", "inputs", "field"), LIMIT_BREAKERS)
async def test_inputs_a_model_cannot_take_are_refused_before_any_call(
    sim: Simulator, make: Any, provider: str, model: str, inputs: dict[str, Any], field: str
) -> None:
    """Too many images, a mask where none is taken, a format or model that takes none, a
    mask of another size: refused by the adapter, the upstream never called."""
    with pytest.raises(InvalidRequestError) as caught:
        await make(provider).generate(ask("edit [sim:success]", model, **inputs))
    assert caught.value.field == field
    assert sim.events == []


@pytest.mark.parametrize(("provider", "model", "most", "size"), EDITORS)
async def test_a_moderated_input_is_content_blocked_at_the_input_stage(
    sim: Simulator, make: Any, provider: str, model: str, most: int, size: str
) -> None:
    """The upstream's moderation of an edit's inputs is `ContentBlocked` at the prompt
    (input) stage, not retried, whatever the provider's shape for it."""
    image = png()
    with pytest.raises(ContentBlocked) as caught:
        await make(provider).generate(
            ask("edit [sim:prompt_blocked]", model, size, images=(image,))
        )
    assert caught.value.stage == "prompt"
    assert caught.value.retryable is False
    assert sim.events[-1].images == digests(image)


@pytest.mark.parametrize(("provider", "model", "most", "size"), EDITORS)
async def test_outages_meet_edits_as_they_meet_generation(
    sim: Simulator, make: Any, provider: str, model: str, most: int, size: str
) -> None:
    """The same failure draws apply with input images: an overload is `Overloaded`."""
    with pytest.raises(Overloaded):
        await make(provider).generate(ask("edit [sim:overloaded]", model, size, images=(png(),)))
    assert sim.events[-1].outcome == "overloaded"


async def test_the_gemini_api_inline_cap_refuses_before_sending(sim: Simulator) -> None:
    """Inline data above the platform's cap (base64 counted) is refused, not sent."""
    from google.genai import Client

    client = Client(
        api_key=sim.api_key("gemini"),
        http_options=http_options(sim.base_url("gemini"), None),
    )
    adapter = GoogleGenAIProvider(
        "gemini", client=client, default_price_usd=0.1, inline_cap_bytes=1_000, per_image_cap=False
    )
    try:
        with pytest.raises(InvalidRequestError, match="inline") as caught:
            await adapter.generate(ask("x [sim:success]", "gemini-3-pro-image", images=(png(),)))
        assert caught.value.field == "images"
        assert sim.events == []
    finally:
        await adapter.aclose()


def test_byte_and_format_limits_are_checked_per_image() -> None:
    """An image above the model's byte limit, or of a type it does not take, is named."""
    small = Capabilities(max_input_images=2, max_input_image_bytes=100)
    request = ask("x", "m", images=(png(),))
    with pytest.raises(
        InvalidRequestError, match=r"images\[0\] is .* bytes, the model takes at most 100"
    ):
        refuse_inputs(small, request, "p/m")
    png_only = Capabilities(max_input_images=2, input_mime_types=frozenset({"image/png"}))
    with pytest.raises(
        InvalidRequestError, match=r"images\[1\] is image/jpeg, the model takes image/png"
    ):
        refuse_inputs(png_only, ask("x", "m", images=(png(), jpeg())), "p/m")


def test_capabilities_carry_each_models_input_limits(make: Any) -> None:
    """The catalogue's input limits reach each adapter's capabilities."""
    gemini = make("gemini").capabilities("gemini-3-pro-image")
    assert (gemini.max_input_images, gemini.supports_mask) == (14, False)
    assert gemini.max_input_image_bytes is None  # the Gemini API caps the request instead
    assert gemini.input_image_price_usd == pytest.approx(0.0011)
    assert make("vertex").capabilities("gemini-3-pro-image").max_input_image_bytes == 7_000_000
    assert make("vertex").capabilities("gemini-2.5-flash-image").max_input_images == 3
    gpt = make("openai").capabilities("gpt-image-1.5")
    assert (gpt.max_input_images, gpt.supports_mask) == (16, True)
    dall_e = make("openai").capabilities("dall-e-2")
    assert dall_e.input_mime_types == frozenset({"image/png"})
    assert make("flux").capabilities("flux-kontext-pro").max_input_images == 4
    assert make("flux").capabilities("flux-2-klein-4b").max_input_images == 4
    assert make("flux").capabilities("flux-pro-1.1").max_input_images == 0
    chat = make("openai_compatible").capabilities("nano-banana-pro")
    assert chat.max_input_images == 14
    images = make("openai_compatible", mode="images").capabilities("nano-banana-pro")
    assert images.max_input_images == 0


async def test_an_input_image_is_encoded_once_for_every_attempt(sim: Simulator, make: Any) -> None:
    """Retries send the same base64 text: the image is encoded once, not per attempt."""
    image = png()
    adapter = make("flux")
    request = ask("edit [sim:overloaded*1,success]", "flux-kontext-pro", images=(image,))
    with pytest.raises(Overloaded):
        await adapter.generate(request)
    encoded = image.base64()
    await adapter.generate(request)
    assert image.base64() is encoded
    assert [e.images for e in sim.events] == [digests(image)] * 2

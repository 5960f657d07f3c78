"""Edits on the wire, as the simulator receives and refuses them: raw requests in each
provider's own shape, answered in each provider's error shape, recorded by digest."""

from __future__ import annotations

import base64
import hashlib
import io

import aiohttp
from PIL import Image

from imagegate.testing._images import make_jpeg, make_png
from imagegate.testing.simulator import Simulator

PNG = make_png(64, 48, seed=1)
JPEG = make_jpeg(32, 32, seed=2)


def b64(data: bytes) -> str:
    """Standard base64 text."""
    return base64.b64encode(data).decode()


def sha(data: bytes) -> str:
    """The digest the event log keeps."""
    return hashlib.sha256(data).hexdigest()


def rgba_png(width: int, height: int) -> bytes:
    """A fully transparent RGBA PNG (an OpenAI mask that edits everything)."""
    buffer = io.BytesIO()
    Image.new("RGBA", (width, height), (0, 0, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


async def _gemini(
    sim: Simulator, http: aiohttp.ClientSession, model: str, parts: list[dict[str, object]]
) -> tuple[int, dict[str, object]]:
    url = f"{sim.base_url('gemini')}/v1beta/models/{model}:generateContent"
    body = {"contents": [{"role": "user", "parts": parts}]}
    headers = {"x-goog-api-key": sim.api_key("gemini")}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


def _inline(data: bytes, mime: str = "image/png") -> dict[str, object]:
    return {"inline_data": {"mime_type": mime, "data": b64(data)}}


async def test_gemini_inline_parts_are_recorded_in_order(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Inline parts (snake_case accepted too) are taken in order; the answer is an image."""
    parts = [_inline(JPEG, "image/jpeg"), _inline(PNG), {"text": "merge [sim:success]"}]
    status, body = await _gemini(sim, http, "gemini-3-pro-image", parts)
    assert status == 200
    assert "candidates" in body
    (event,) = sim.events
    assert event.images == (sha(JPEG), sha(PNG))


async def test_gemini_refuses_what_is_not_an_image(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Bytes that are not an image: 400 INVALID_ARGUMENT "Unable to process input image"."""
    parts = [_inline(b"GIF89a not really"), {"text": "x [sim:success]"}]
    status, body = await _gemini(sim, http, "gemini-3-pro-image", parts)
    assert status == 400
    error = body["error"]
    assert isinstance(error, dict)
    assert error["status"] == "INVALID_ARGUMENT"
    assert str(error["message"]).startswith("Unable to process input image")
    assert sim.events[-1].outcome == "invalid_request"


async def test_gemini_refuses_more_images_than_the_model_takes(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Gemini 2.5 Flash Image takes three input images; a fourth is a 400."""
    parts: list[dict[str, object]] = [_inline(PNG) for _ in range(4)]
    status, body = await _gemini(sim, http, "gemini-2.5-flash-image", [*parts, {"text": "x"}])
    assert status == 400
    assert "at most 3" in str(body)


async def _edit(
    sim: Simulator,
    http: aiohttp.ClientSession,
    model: str,
    images: list[bytes],
    mask: bytes | None = None,
) -> tuple[int, dict[str, object]]:
    form = aiohttp.FormData()
    form.add_field("model", model)
    form.add_field("prompt", "a red door [sim:success]")
    form.add_field("size", "1024x1024")
    name = "image" if len(images) == 1 else "image[]"
    for number, data in enumerate(images):
        form.add_field(name, data, filename=f"i{number}.png", content_type="image/png")
    if mask is not None:
        form.add_field("mask", mask, filename="mask.png", content_type="image/png")
    url = f"{sim.base_url('openai')}/images/edits"
    headers = {"Authorization": f"Bearer {sim.api_key('openai')}"}
    async with http.post(url, data=form, headers=headers) as response:
        return response.status, await response.json()


async def test_openai_edits_take_image_array_and_mask(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """``image[]`` files in order and a mask with alpha: a gpt-image answer."""
    first = make_png(256, 256, seed=3)
    status, body = await _edit(sim, http, "gpt-image-1", [first, PNG], rgba_png(256, 256))
    assert status == 200
    assert "b64_json" in body["data"][0]  # type: ignore[index]
    event = sim.events[-1]
    assert event.images == (sha(first), sha(PNG))
    assert event.mask == sha(rgba_png(256, 256))


async def test_openai_refuses_a_mask_of_another_size_or_without_alpha(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """The mask must match the first image and carry alpha: 400 on ``param: mask``."""
    first = make_png(256, 256, seed=3)
    status, body = await _edit(sim, http, "gpt-image-1", [first], rgba_png(128, 128))
    assert status == 400
    assert body["error"]["param"] == "mask"  # type: ignore[index]
    assert body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    status, body = await _edit(sim, http, "gpt-image-1", [first], make_png(256, 256, seed=4))
    assert status == 400
    assert "alpha" in body["error"]["message"]  # type: ignore[index]


async def test_openai_refuses_an_edit_without_an_image_and_too_many(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """No image at all, or seventeen for gpt-image (sixteen at most): both 400 on image."""
    status, body = await _edit(sim, http, "gpt-image-1.5", [])
    assert (status, body["error"]["param"]) == (400, "image")  # type: ignore[index]
    status, body = await _edit(sim, http, "gpt-image-1.5", [PNG] * 17)
    assert status == 400
    assert "at most 16" in body["error"]["message"]  # type: ignore[index]


async def test_dall_e_2_wants_transparency_without_a_mask(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """dall-e-2 edits the transparent area of an image sent without a mask."""
    status, body = await _edit(sim, http, "dall-e-2", [make_png(256, 256, seed=5)])
    assert status == 400
    assert "format must be in ['RGBA', 'LA', 'L']" in body["error"]["message"]  # type: ignore[index]
    status, _ = await _edit(sim, http, "dall-e-2", [rgba_png(256, 256)])
    assert status == 200


async def _chat(
    sim: Simulator, http: aiohttp.ClientSession, urls: list[str]
) -> tuple[int, dict[str, object]]:
    content: list[dict[str, object]] = [{"type": "text", "text": "combine [sim:success]"}]
    content += [{"type": "image_url", "image_url": {"url": url}} for url in urls]
    body = {
        "model": "google/gemini-3-pro-image",
        "messages": [{"role": "user", "content": content}],
        "modalities": ["image", "text"],
    }
    url = f"{sim.base_url('openai_compatible')}/chat/completions"
    headers = {"Authorization": f"Bearer {sim.api_key('openai_compatible')}"}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


async def test_aggregator_takes_data_url_parts_in_order(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """``image_url`` parts with data URLs after the text: recorded in order."""
    status, _ = await _chat(
        sim, http, [f"data:image/png;base64,{b64(PNG)}", f"data:image/jpeg;base64,{b64(JPEG)}"]
    )
    assert status == 200
    assert sim.events[-1].images == (sha(PNG), sha(JPEG))


async def test_aggregator_refuses_urls_it_would_fetch(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """The simulator fetches nothing: an https image URL is a 400 in OpenRouter's shape."""
    status, body = await _chat(sim, http, ["https://example.com/cat.png"])
    assert status == 400
    assert body["error"]["code"] == 400  # type: ignore[index]


async def _flux(
    sim: Simulator, http: aiohttp.ClientSession, model: str, count: int
) -> tuple[int, dict[str, object]]:
    body: dict[str, object] = {"prompt": "restyle [sim:success]", "aspect_ratio": "1:1"}
    for number in range(1, count + 1):
        body["input_image" if number == 1 else f"input_image_{number}"] = b64(PNG)
    url = f"{sim.base_url('flux')}/v1/{model}"
    async with http.post(url, json=body, headers={"x-key": sim.api_key("flux")}) as response:
        return response.status, await response.json()


async def test_flux_input_images_are_recorded_and_capped_per_schema(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """Kontext takes ``input_image`` … ``input_image_4``; a fifth is a FastAPI 422."""
    status, body = await _flux(sim, http, "flux-kontext-pro", 4)
    assert status == 200
    assert "polling_url" in body
    assert sim.events[-1].images == (sha(PNG),) * 4
    status, body = await _flux(sim, http, "flux-kontext-pro", 5)
    assert status == 422
    (detail,) = body["detail"]  # type: ignore[misc]
    assert detail["loc"] == ["body", "input_image"]
    assert "at most 4" in detail["msg"]

"""The official openai SDK, sync and async, generates and edits through the gateway."""

from __future__ import annotations

import base64

import anyio
import openai
import pytest

from editing._images import png
from gateway.conftest import KEYS, MODEL, Running
from imagegate.testing._images import make_png


async def test_async_sdk_generates(gw: Running) -> None:
    """images.generate returns a parsed ImagesResponse with a real PNG and our headers."""
    async with gw.client() as client:
        raw = await client.images.with_raw_response.generate(
            model=MODEL, prompt="a lighthouse at dusk", size="1024x1024"
        )
        response = raw.parse()
        assert response.data is not None
        assert len(response.data) == 1
        image = base64.b64decode(response.data[0].b64_json or "")
        magic = {"png": b"\x89PNG", "jpeg": b"\xff\xd8\xff", "webp": b"RIFF"}
        assert response.output_format is not None
        assert image.startswith(magic[response.output_format])
        width, height = (int(v) for v in (response.size or "0x0").split("x"))
        assert width == height
        assert width * height >= 1_000_000
        assert raw.headers["x-imagegate-route"].endswith("/gemini-3-pro-image")
        assert raw.headers["x-imagegate-size"] == "1K"
        assert raw.headers["x-imagegate-downgraded"] == "false"
        assert int(raw.headers["x-imagegate-attempts"]) >= 1
        assert float(raw.headers["x-imagegate-cost-usd"]) > 0
        assert raw.headers["x-request-id"]


async def test_sync_sdk_generates_in_a_thread(gw: Running) -> None:
    """openai.OpenAI (sync) works against the gateway from a worker thread."""

    def call() -> openai.types.ImagesResponse:
        with gw.sync_client() as client:
            return client.images.generate(
                model=MODEL, prompt="a fox", size="2K", extra_body={"aspect_ratio": "16:9"}
            )

    response = await anyio.to_thread.run_sync(call)
    assert response.data is not None
    width, height = (int(v) for v in (response.size or "0x0").split("x"))
    assert width > height
    assert width * height > 3_000_000


async def test_async_sdk_edits(gw: Running) -> None:
    """images.edit sends multipart (image[] files and a mask) and gets an edited image."""
    async with gw.client() as client:
        first, second = make_png(1024, 1024), make_png(1024, 1024, seed=1)
        response = await client.images.edit(
            model=MODEL,
            image=[("a.png", first, "image/png"), ("b.png", second, "image/png")],
            prompt="put the two together",
            size="1024x1024",
        )
        assert response.data is not None
        assert response.data[0].b64_json
        masked = await client.images.edit(
            model=MODEL,
            image=("a.png", first, "image/png"),
            mask=("m.png", png(1024, 1024), "image/png"),
            prompt="add a boat",
        )
        assert masked.data is not None
        assert masked.data[0].b64_json


async def test_sync_sdk_edits_in_a_thread(gw: Running) -> None:
    """openai.OpenAI (sync) sends an edit from a worker thread."""

    def call() -> openai.types.ImagesResponse:
        with gw.sync_client() as client:
            return client.images.edit(
                model=MODEL, image=("a.png", make_png(1024, 768), "image/png"), prompt="snow"
            )

    response = await anyio.to_thread.run_sync(call)
    assert response.data is not None
    assert response.data[0].b64_json


async def test_wrong_key_is_401(gw: Running) -> None:
    """An unknown key raises AuthenticationError with OpenAI's error body."""
    async with gw.client("igw-not-a-key") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.images.generate(model=MODEL, prompt="x")
        body = caught.value.body
        assert isinstance(body, dict)
        assert set(body) == {"message", "type", "param", "code"}
        assert body["code"] == "invalid_api_key"
        assert "igw-not-a-key" not in caught.value.message


async def test_malformed_body_is_400_naming_the_field(gw: Running) -> None:
    """A bad field raises BadRequestError whose param names it."""
    async with gw.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model=MODEL, prompt="x", size="huge")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "size"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model=MODEL, prompt="x", n=40)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "n"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model=MODEL, prompt="x", response_format="url")
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "response_format"


async def test_budget_is_429(gw: Running) -> None:
    """A client past its budget gets RateLimitError with a message that says so."""
    # budget 0.3 USD: one 4K image (0.24) fits, two do not
    async with gw.client(KEYS["bob"]) as client:
        await client.images.generate(model=MODEL, prompt="first", size="4K")
        with pytest.raises(openai.RateLimitError) as caught:
            await client.images.generate(model=MODEL, prompt="second", size="4K")
        assert "budget" in caught.value.message
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["code"] == "insufficient_quota"


async def test_rpm_is_429(gw: Running) -> None:
    """A client over its rpm gets RateLimitError and a Retry-After."""
    # rpm 2
    async with gw.client(KEYS["carol"]) as client:
        for i in range(2):
            await client.images.generate(model=MODEL, prompt=f"p{i}")
        with pytest.raises(openai.RateLimitError) as caught:
            await client.images.generate(model=MODEL, prompt="p3")
        assert caught.value.response.headers["Retry-After"]


async def test_models_list(gw: Running) -> None:
    """models.list shows the groups."""
    async with gw.client() as client:
        names = [m.id async for m in client.models.list()]
        assert names == [MODEL, "gpt-image"]

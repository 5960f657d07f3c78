"""An image cut short (header only, or truncated mid-data) is not a delivered image: it is
a mapped TransportError and the router fails over."""

from __future__ import annotations

import base64
import io
import struct
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from imagegate import GeneratedImage, RetryPolicy, Route, Router
from imagegate._integrity import MAX_PNG_CHUNKS
from imagegate._provider import ProviderRequest
from imagegate.errors import TransportError
from imagegate.providers.flux import FluxProvider
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.openai import OpenAIProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.testing import make_jpeg, make_png

from ._chosen import Hostile, Serve, start_hostile


@pytest.fixture
async def hostile(serve: Serve) -> Hostile:
    """A hostile upstream on 127.0.0.1 answering with the handler the test sets."""
    return await start_hostile(serve)


KEY = "sk-hostile-images-12345"
PNG_4K = make_png(4096, 4096)
JPEG_4K = make_jpeg(4096, 4096)
PNG_HEADER_ONLY = PNG_4K[:33]  # signature + IHDR: a 4096x4096 header and nothing else
JPEG_HEADERS_ONLY = JPEG_4K[: JPEG_4K.index(b"\xff\xda") + 14]  # up to the scan header


def _pil(fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), (10, 200, 30)).save(buffer, fmt, **options)
    return buffer.getvalue()


def _png_with_empty_chunks(count: int) -> bytes:
    empty = struct.pack(">I4sI", 0, b"tEXt", 0)
    return PNG_4K[:33] + empty * count + PNG_4K[33:]


def _webp_with_riff_size(data: bytes, size: int) -> bytes:
    return data[:4] + struct.pack("<I", size) + data[8:]


COMPLETE = {
    "make_png": make_png(300, 200),
    "make_png_4k": PNG_4K,
    "make_jpeg": make_jpeg(300, 200),
    "make_jpeg_4k": JPEG_4K,
    "make_jpeg_realistic": make_jpeg(512, 512, payload="realistic"),
    "pillow_png": _pil("PNG"),
    "pillow_jpeg": _pil("JPEG"),
    "pillow_progressive_jpeg": _pil("JPEG", progressive=True),
    "pillow_webp": _pil("WEBP"),
    "pillow_webp_lossless": _pil("WEBP", lossless=True),
    "jpeg_with_trailing_bytes": make_jpeg(64, 64) + b"\x00" * 16,
    "png_with_1000_empty_chunks": _png_with_empty_chunks(1000),
}

TRUNCATED = {
    "png_header_only": PNG_HEADER_ONLY,
    "png_cut_mid_idat": PNG_4K[: len(PNG_4K) // 2],
    "png_without_iend": PNG_4K[:-12],
    "png_chunk_runs_past_end": PNG_4K[:33] + struct.pack(">I", 10**6) + b"IDAT" + b"\0" * 64,
    "png_with_too_many_chunks": _png_with_empty_chunks(MAX_PNG_CHUNKS),
    "jpeg_headers_only": JPEG_HEADERS_ONLY,
    "jpeg_before_scan": JPEG_4K[: JPEG_4K.index(b"\xff\xda")],
    "jpeg_cut_mid_scan": JPEG_4K[: len(JPEG_4K) // 2],
    "jpeg_without_eoi": JPEG_4K[:-2],
    "webp_cut": _pil("WEBP")[:-10],
    "webp_riff_size_too_large": _webp_with_riff_size(_pil("WEBP"), 10**6),
}


@pytest.mark.parametrize("name", list(COMPLETE))
def test_complete_images_are_accepted(name: str) -> None:
    """Complete PNG, JPEG and WebP images, ours and Pillow's, are accepted."""
    image = GeneratedImage(COMPLETE[name])
    assert image.width > 0
    assert image.height > 0


@pytest.mark.parametrize("name", list(TRUNCATED))
def test_truncated_images_are_refused(name: str) -> None:
    """A header-only or truncated PNG/JPEG/WebP raises ValueError naming the format."""
    with pytest.raises(ValueError, match=r"(?i)truncated|incomplete") as info:
        GeneratedImage(TRUNCATED[name])
    assert name.split("_")[0] in str(info.value).lower()


def _gemini_body(data: bytes) -> dict[str, Any]:
    part = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(data).decode()}}
    return {"candidates": [{"finishReason": "STOP", "index": 0,
                            "content": {"role": "model", "parts": [part]}}]}  # fmt: skip


def _openai_body(data: bytes) -> dict[str, Any]:
    return {"created": 1, "data": [{"b64_json": base64.b64encode(data).decode()}]}


def _chat_body(data: bytes) -> dict[str, Any]:
    url = "data:image/jpeg;base64," + base64.b64encode(data).decode()
    image = {"type": "image_url", "image_url": {"url": url}}
    message = {"role": "assistant", "content": "", "images": [image]}
    return {"id": "gen-1", "choices": [{"index": 0, "finish_reason": "stop", "message": message}]}


ADAPTERS: dict[str, tuple[Any, str, Any]] = {
    "gemini": (GeminiProvider, "gemini-3-pro-image", _gemini_body),
    "openai": (OpenAIProvider, "gpt-image-1", _openai_body),
    "openai_compatible": (OpenAICompatibleProvider, "google/gemini-3-pro-image", _chat_body),
}


@pytest.mark.parametrize("adapter_name", list(ADAPTERS))
@pytest.mark.parametrize("image", ["png_header_only", "jpeg_headers_only"])
async def test_adapter_maps_a_truncated_image(
    hostile: Hostile, adapter_name: str, image: str
) -> None:
    """A 200 whose image is cut short is a retryable TransportError, not a 4K success."""
    cls, model, body = ADAPTERS[adapter_name]

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body(TRUNCATED[image]))

    hostile.handler = handler
    base_url = hostile.url if adapter_name == "gemini" else f"{hostile.url}/v1"
    adapter = cls(api_key=KEY, base_url=base_url)
    size = "1K" if adapter_name == "openai" else "4K"
    try:
        with pytest.raises(TransportError, match=r"(?i)truncated") as info:
            await adapter.generate(
                ProviderRequest(prompt="x", model=model, size=size, timeout_s=10)
            )
    finally:
        await adapter.aclose()
    assert info.value.retryable
    assert hostile.requests


async def test_router_fails_over_from_a_truncated_image(hostile: Hostile) -> None:
    """The router does not deliver a header-only 4K PNG; it fails over to the next route."""
    good = make_png(4096, 2304)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(_gemini_body(PNG_HEADER_ONLY if "/bad/" in request.path else good))

    hostile.handler = handler
    routes = [
        Route("gemini", model="gemini-3-pro-image", base_url=f"{hostile.url}/bad", api_key=KEY),
        Route("gemini", model="gemini-3-pro-image", base_url=f"{hostile.url}/good", api_key=KEY,
              name="good", backup=True),
    ]  # fmt: skip
    async with Router(routes, retry=RetryPolicy(attempts=1)) as router:
        result = await router.generate("a cat", size="4K", aspect_ratio="16:9")
    assert result.route == "good"
    assert result.image.data == good
    first = result.attempts[0]
    assert isinstance(first.error, TransportError)
    assert first.outcome == "error"


@pytest.mark.parametrize("image", ["png_header_only", "jpeg_headers_only"])
async def test_flux_maps_a_truncated_sample_download(hostile: Hostile, image: str) -> None:
    """A Ready task whose sample download is cut short is a TransportError, not an image."""

    async def handler(request: web.Request) -> web.Response:
        origin = str(request.url.origin())
        if request.method == "POST":
            polling_url = f"{origin}/v1/get_result?id=t"
            return web.json_response({"id": "t", "polling_url": polling_url, "cost": 6.0})
        if request.path == "/v1/get_result":
            sample = {"sample": f"{origin}/delivery/sample"}
            return web.json_response({"id": "t", "status": "Ready", "result": sample})
        return web.Response(body=TRUNCATED[image], content_type="image/jpeg")

    hostile.handler = handler
    adapter = FluxProvider(api_key=KEY, base_url=hostile.url, poll_initial_s=0.001)
    request = ProviderRequest(prompt="x", model="flux-pro-1.1-ultra", size="2K", timeout_s=10)
    try:
        with pytest.raises(TransportError, match=r"(?i)truncated") as info:
            await adapter.generate(request)
    finally:
        await adapter.aclose()
    assert info.value.retryable
    assert hostile.requests[-1] == "/delivery/sample"

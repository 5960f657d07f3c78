"""Hostile upstreams for the security tests: aiohttp servers on 127.0.0.1 speaking each
provider's wire format, and the adapters pointed at them."""

from __future__ import annotations

import base64
import functools
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate._provider import Provider, ProviderRequest
from imagegate.providers.flux import FluxProvider
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.openai import OpenAIProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.providers.vertex import VertexProvider
from imagegate.testing._images import make_png

KEY = "hostile-test-key-0123456789"
"""The key every adapter sends; it must never reach a host it was not meant for."""

KEY_HEADERS = ("x-key", "x-goog-api-key", "authorization")

MODEL = {
    "gemini": "gemini-3-pro-image",
    "vertex": "gemini-3-pro-image",
    "openai": "gpt-image-1.5",
    "openai_compatible": "google/gemini-3-pro-image",
    "flux": "flux-pro-1.1-ultra",
}

MiB = 1 << 20

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build(provider: str, base_url: str, *, key: str = KEY, **options: Any) -> Provider:
    """The ``provider`` adapter on ``base_url`` with ``key`` (Vertex in express mode)."""
    if provider == "gemini":
        return GeminiProvider(api_key=key, base_url=base_url, **options)
    if provider == "vertex":
        return VertexProvider(api_key=key, base_url=base_url, **options)
    if provider == "openai":
        return OpenAIProvider(api_key=key, base_url=base_url, **options)
    if provider == "openai_compatible":
        return OpenAICompatibleProvider(api_key=key, base_url=base_url, **options)
    return FluxProvider(api_key=key, base_url=base_url, poll_initial_s=0.001, **options)


def ask(provider: str) -> ProviderRequest:
    """A 1K square request with a generous (real-time) attempt timeout, a safety net only."""
    return ProviderRequest(
        prompt="a lighthouse", model=MODEL[provider], size="1K", aspect_ratio="1:1",
        timeout_s=30.0,
    )  # fmt: skip


@functools.cache
def png_b64() -> bytes:
    """A real 1024² PNG in base64, padded with zero bytes so that more ``A`` (zeros) may
    follow: the decoded answer is still a valid PNG, whatever its length."""
    png = make_png(1024, 1024)
    return base64.b64encode(png + b"\0" * (-len(png) % 3))


def image_answer(provider: str, base: str) -> tuple[bytes, bytes]:
    """The JSON before and after the base64 image of a 200 answer, per wire format."""
    if provider in ("gemini", "vertex"):
        return (
            b'{"candidates":[{"finishReason":"STOP","index":0,"content":{"role":"model",'
            b'"parts":[{"inlineData":{"mimeType":"image/png","data":"',
            b'"}}]}}]}',
        )
    if provider == "openai":
        return b'{"created":1,"data":[{"b64_json":"', b'"}]}'
    if provider == "openai_compatible":
        return (
            b'{"id":"g","choices":[{"finish_reason":"stop","message":{"role":"assistant",'
            b'"content":"","images":[{"type":"image_url","image_url":'
            b'{"url":"data:image/png;base64,',
            b'"}}]}}]}',
        )
    # flux: the submit answer, padded; polls and the sample are served by `flux_routes`
    return (
        b'{"id":"t1","cost":6,"polling_url":"' + base.encode() + b'/v1/get_result?id=t1","pad":"',
        b'"}',
    )


def flux_routes(app: web.Application, base: Callable[[], str]) -> None:
    """An honest Flux poll and sample, so only the submit answer is hostile."""

    async def poll(request: web.Request) -> web.Response:
        sample = f"{base()}/sample.png"
        return web.json_response({"id": "t1", "status": "Ready", "result": {"sample": sample}})

    async def sample(request: web.Request) -> web.Response:
        return web.Response(body=make_png(1024, 1024), content_type="image/png")

    app.router.add_get("/v1/get_result", poll)
    app.router.add_get("/sample.png", sample)


@asynccontextmanager
async def serve(handler: Handler, *, flux: bool = False) -> AsyncIterator[str]:
    """Serve ``handler`` for every other path on 127.0.0.1; yields the base URL."""
    app = web.Application()
    url = ""
    if flux:
        flux_routes(app, lambda: url)
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:
        url = str(server.make_url("")).rstrip("/")
        yield url


def gzip_bomb(prefix: bytes, suffix: bytes, *, inflated: int) -> bytes:
    """A gzip body inflating to ``prefix`` + a PNG + ``inflated`` bytes of ``A`` + ``suffix``,
    built piece by piece from a small buffer (a few dozen KB on the wire)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [z.compress(prefix + png_b64())]
    piece = b"A" * MiB
    out += [z.compress(piece) for _ in range(inflated // MiB)]
    out += [z.compress(suffix), z.flush()]
    return b"".join(out)

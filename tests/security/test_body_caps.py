"""An upstream cannot make an adapter read an answer of unbounded size: huge, endless or
compressed answers stop at ``max_response_bytes`` (counted after decompression) with a
`TransportError`, on every adapter, over real sockets."""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest
from aiohttp import web

from imagegate.errors import ConfigurationError, TransportError
from imagegate.providers._guard import DEFAULT_MAX_RESPONSE_BYTES

from ._hostile import MiB, ask, build, gzip_bomb, image_answer, png_b64, serve

PROVIDERS = ("gemini", "vertex", "openai", "openai_compatible", "flux")
CAP = 1 * MiB
"""The cap the tests set; the hostile answers are many times larger."""


def _hostile_stream(provider: str, total: int, sent: dict[str, int], *, declared: bool) -> Any:
    """A handler streaming a valid image answer of ``total`` bytes (a PNG followed by
    zeros), counting what it managed to send before the client hung up."""

    async def handler(request: web.Request) -> web.StreamResponse:
        prefix, suffix = image_answer(provider, f"{request.scheme}://{request.host}")
        head = prefix + png_b64()
        pad = total - len(head) - len(suffix)
        pad -= pad % 4
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        if declared:
            response.content_length = len(head) + pad + len(suffix)
        await response.prepare(request)
        piece = b"A" * (256 * 1024)
        try:
            await response.write(head)
            sent["bytes"] = len(head)
            while pad > 0:
                chunk = piece[: min(pad, len(piece))]
                await response.write(chunk)
                sent["bytes"] += len(chunk)
                pad -= len(chunk)
            await response.write(suffix)
            await response.write_eof()
        except ConnectionError:
            sent["hung_up"] = 1
        return response

    return handler


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_endless_answer_stops_at_the_cap(provider: str) -> None:
    """A chunked answer that goes on and on is cut off near the cap, not read to its end."""
    sent: dict[str, int] = {}
    handler = _hostile_stream(provider, 48 * MiB, sent, declared=False)
    async with serve(handler, flux=provider == "flux") as url:
        adapter = build(provider, url, max_response_bytes=CAP)
        try:
            with pytest.raises(TransportError, match="byte cap") as caught:
                await adapter.generate(ask(provider))
        finally:
            await adapter.aclose()
    assert caught.value.billing == "possibly_billed"
    assert sent["bytes"] < 16 * MiB  # the client hung up; socket buffers hold the rest


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_declared_huge_answer_is_refused(provider: str) -> None:
    """An answer announcing 300 MB in Content-Length is refused before it is read."""
    sent: dict[str, int] = {}
    handler = _hostile_stream(provider, 300 * MiB, sent, declared=True)
    async with serve(handler, flux=provider == "flux") as url:
        adapter = build(provider, url, max_response_bytes=CAP)
        try:
            with pytest.raises(TransportError, match="byte cap"):
                await adapter.generate(ask(provider))
        finally:
            await adapter.aclose()
    assert sent["bytes"] < 16 * MiB


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_gzip_bomb_is_capped_after_inflation(provider: str) -> None:
    """A small gzip body inflating to 64 MiB stops at the cap, counted in inflated bytes,
    with the peak of Python allocations far below the inflated size."""
    bombs: dict[str, bytes] = {}

    async def handler(request: web.Request) -> web.Response:
        if "bomb" not in bombs:
            prefix, suffix = image_answer(provider, f"{request.scheme}://{request.host}")
            bombs["bomb"] = gzip_bomb(prefix, suffix, inflated=64 * MiB)
        return web.Response(
            body=bombs["bomb"],
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async with serve(handler, flux=provider == "flux") as url:
        adapter = build(provider, url, max_response_bytes=CAP)
        try:
            tracemalloc.start()
            with pytest.raises(TransportError, match="byte cap"):
                await adapter.generate(ask(provider))
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            await adapter.aclose()
    assert len(bombs["bomb"]) < 1 * MiB  # small on the wire …
    assert peak < 40 * MiB  # … and never inflated whole (64 MiB, then decoded again)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_answer_under_the_cap_is_read(provider: str) -> None:
    """An honest answer below the cap still succeeds (PNG plus padding, 3 MiB)."""
    sent: dict[str, int] = {}
    handler = _hostile_stream(provider, 3 * MiB, sent, declared=False)
    async with serve(handler, flux=provider == "flux") as url:
        adapter = build(provider, url, max_response_bytes=4 * MiB)
        try:
            response = await adapter.generate(ask(provider))
        finally:
            await adapter.aclose()
    assert response.images[0].width == 1024


def test_default_cap_is_well_above_a_4k_answer() -> None:
    """The default (64 MiB) holds a 4K PNG of ~30 MB in base64 (~40 MB) with room to spare."""
    assert 64 * MiB == DEFAULT_MAX_RESPONSE_BYTES


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("bad", [0, -1, True, "64MB"])
def test_cap_option_is_validated(provider: str, bad: object) -> None:
    """A cap that is not a positive integer is a configuration error."""
    with pytest.raises(ConfigurationError, match="max_response_bytes must be a positive"):
        build(provider, "http://127.0.0.1:9", max_response_bytes=bad)

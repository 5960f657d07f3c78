"""``openai_compatible`` in ``mode="images"`` against a replay of OpenRouter's documented
image API: ``POST /api/v1/images`` (https://openrouter.ai/docs/api/api-reference/images/
generate-an-image; the OpenAPI spec in OpenRouterTeam/typescript-sdk,
``.speakeasy/in.openapi.yaml``, operation ``createImages``).

A small aiohttp server of our own plays OpenRouter: it answers the documented path with
the spec's example answer (``created``, ``data[].b64_json``, ``usage``; a real PNG where the
example has a placeholder) and records every path it is asked for, so the tests see that
the undocumented ``/images/generations`` is never called.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from imagegate.errors import InvalidRequestError
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.testing._images import make_png

from ._support import ask

# The spec's 200 example for POST /images, with a real image in place of
# "<base64-encoded-image>".
DOCUMENTED_ANSWER: dict[str, Any] = {
    "created": 1748372400,
    "data": [{"b64_json": base64.b64encode(make_png(64, 48)).decode()}],
    "usage": {"completion_tokens": 4175, "cost": 0.04, "prompt_tokens": 0, "total_tokens": 4175},
}
# The spec's 404 example (NotFoundResponse).
NOT_FOUND = {"error": {"code": 404, "message": "Resource not found"}}


class Replay:
    """OpenRouter's image API on loopback: the documented path answers, others 404."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.bodies: list[dict[str, Any]] = []
        self.answer_404: dict[str, Any] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        """Record the call; answer the documented path, 404 anything else."""
        self.paths.append(f"{request.method} {request.path}")
        if request.method == "POST" and request.path == "/api/v1/images":
            self.bodies.append(await request.json())
            if self.answer_404 is not None:
                return web.json_response(self.answer_404, status=404)
            return web.json_response(DOCUMENTED_ANSWER)
        return web.json_response(NOT_FOUND, status=404)


@pytest.fixture
async def replay() -> AsyncIterator[tuple[Replay, str]]:
    """A running replay and its API root (``.../api/v1``)."""
    state = Replay()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", state.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield state, f"http://127.0.0.1:{port}/api/v1"
    finally:
        await runner.cleanup()


@pytest.fixture
async def adapter(replay: tuple[Replay, str]) -> AsyncIterator[OpenAICompatibleProvider]:
    """The adapter in images mode, pointed at the replay."""
    provider = OpenAICompatibleProvider(base_url=replay[1], api_key="sk-or-v1-test", mode="images")
    try:
        yield provider
    finally:
        await provider.aclose()


async def test_images_mode_calls_the_documented_path(
    replay: tuple[Replay, str], adapter: OpenAICompatibleProvider
) -> None:
    """The request goes to POST /api/v1/images with the tier and ratio; the documented
    answer yields its image and its usage.cost."""
    state, _ = replay
    response = await adapter.generate(ask("a red panda", "google/gemini-3-pro-image", "2K", "16:9"))
    assert state.paths == ["POST /api/v1/images"]
    assert state.bodies == [
        {
            "model": "google/gemini-3-pro-image",
            "prompt": "a red panda",
            "resolution": "2K",
            "aspect_ratio": "16:9",
        }
    ]
    (image,) = response.images
    assert (image.width, image.height) == (64, 48)
    assert response.cost_usd == 0.04
    assert response.metadata["usage"]["completion_tokens"] == 4175
    assert not any("generations" in path for path in state.paths)


async def test_an_unnamed_ratio_is_sent_as_pixels(
    replay: tuple[Replay, str], adapter: OpenAICompatibleProvider
) -> None:
    """A ratio the API does not name is sent as explicit ``size`` pixels, with n and seed."""
    state, _ = replay
    await adapter.generate(ask("a", "black-forest-labs/flux.2-pro", "1K", "7:5", n=2, seed=7))
    (body,) = state.bodies
    assert body == {
        "model": "black-forest-labs/flux.2-pro",
        "prompt": "a",
        "size": "1216x864",
        "n": 2,
        "seed": 7,
    }


async def test_a_404_says_the_endpoint_is_not_there(
    replay: tuple[Replay, str], adapter: OpenAICompatibleProvider
) -> None:
    """A 404 from /images blames base_url or mode, not the model."""
    state, _ = replay
    state.answer_404 = NOT_FOUND
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("a", "google/gemini-3-pro-image"))
    assert info.value.field == "base_url"
    assert info.value.status == 404
    assert "/api/v1/images" in str(info.value)
    assert "mode" in str(info.value)


async def test_a_404_naming_the_model_blames_the_model(
    replay: tuple[Replay, str], adapter: OpenAICompatibleProvider
) -> None:
    """A 404 whose message names the requested model is about the model."""
    state, _ = replay
    state.answer_404 = {
        "error": {"code": 404, "message": "No endpoints found for google/gemini-9-image."}
    }
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("a", "google/gemini-9-image"))
    assert info.value.field == "model"


async def test_a_wrong_base_url_is_reported_as_such(replay: tuple[Replay, str]) -> None:
    """A base URL without /api/v1 reaches no image endpoint: the error says so."""
    state, root = replay
    wrong = OpenAICompatibleProvider(
        base_url=root.removesuffix("/api/v1"), api_key="sk-or-v1-test", mode="images"
    )
    try:
        with pytest.raises(InvalidRequestError) as info:
            await wrong.generate(ask("a", "google/gemini-3-pro-image"))
    finally:
        await wrong.aclose()
    assert info.value.field == "base_url"
    assert state.paths == ["POST /images"]

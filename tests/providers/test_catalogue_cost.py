"""What a gpt-image answer costs: its token usage at the catalogue's rates, else its
reported quality's per-image price, else the estimate; never a number the answer's
untrusted fields could zero or inflate.

The answers are the recorded shape of OpenAI's ``ImagesResponse`` (openai/openai-python
v3.63.0, ``src/openai/types/images_response.py``, generated from OpenAI's OpenAPI spec):
``quality``, ``size``, ``output_format`` and ``usage`` with ``input_tokens_details`` and
``output_tokens_details``. The output token counts are OpenAI's per-image counts for a
1024x1024 gpt-image-1 image (272 low, 1,056 medium, 4,160 high): at $40 per 1M output
tokens they are the per-image prices on https://developers.openai.com/api/docs/models/gpt-image-1
($0.011, $0.042, $0.167), which the costs below are also checked against.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate.providers.openai import OpenAIProvider
from imagegate.testing._images import make_png

from ._support import ask

_PNG = base64.b64encode(make_png(1024, 1024)).decode()
_PROMPT_TOKENS = 12

Serve = Callable[[dict[str, Any]], str]


def images_response(quality: str, output_tokens: int) -> dict[str, Any]:
    """An ``ImagesResponse`` body for one 1024x1024 PNG at ``quality``."""
    return {
        "created": 1_780_000_000,
        "background": "opaque",
        "data": [{"b64_json": _PNG}],
        "output_format": "png",
        "quality": quality,
        "size": "1024x1024",
        "usage": {
            "input_tokens": _PROMPT_TOKENS,
            "input_tokens_details": {"image_tokens": 0, "text_tokens": _PROMPT_TOKENS},
            "output_tokens": output_tokens,
            "output_tokens_details": {"image_tokens": output_tokens, "text_tokens": 0},
            "total_tokens": _PROMPT_TOKENS + output_tokens,
        },
    }


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A stand-in Images API answering every generation with one chosen body."""
    answer: dict[str, Any] = {}

    async def generations(request: web.Request) -> web.Response:
        return web.json_response(answer["body"])

    app = web.Application()
    app.router.add_post("/v1/images/generations", generations)
    async with TestServer(app) as server:

        def configure(body: dict[str, Any]) -> str:
            answer["body"] = body
            return str(server.make_url("/v1"))

        yield configure


async def _cost(serve: Serve, body: dict[str, Any], model: str = "gpt-image-1") -> float:
    adapter = OpenAIProvider(api_key="sk-test", base_url=serve(body))
    try:
        response = await adapter.generate(ask("a lighthouse", model))
    finally:
        await adapter.aclose()
    assert response.cost_usd is not None
    return response.cost_usd


@pytest.mark.parametrize(
    ("quality", "output_tokens", "list_price"),
    [("low", 272, 0.011), ("medium", 1056, 0.042), ("high", 4160, 0.167)],
)
async def test_cost_is_the_answers_tokens_at_the_models_rates(
    serve: Serve, quality: str, output_tokens: int, list_price: float
) -> None:
    """With quality unset (``auto``) the answer's usage, not the ``high`` estimate, is
    billed: text input at $5 and image output at $40 per 1M tokens."""
    by_hand = (_PROMPT_TOKENS * 5.0 + output_tokens * 40.0) / 1_000_000
    cost = await _cost(serve, images_response(quality, output_tokens))
    assert cost == pytest.approx(by_hand, rel=0.05)
    assert cost == pytest.approx(list_price, rel=0.05)


async def test_a_low_answer_costs_about_a_cent_not_the_high_price(serve: Serve) -> None:
    """The defect this fixes: a ``low`` 1024x1024 answer was booked at $0.167."""
    cost = await _cost(serve, images_response("low", 272))
    assert 0.0105 < cost < 0.0115


@pytest.mark.parametrize(
    "bad_usage",
    [
        {"output_tokens": "272"},
        {"output_tokens": -5},
        {"output_tokens": 10**30},
        {"output_tokens": True},
        {"output_tokens": 0},
        {"input_tokens_details": {"text_tokens": -1, "image_tokens": 0}},
        {"input_tokens_details": {"text_tokens": 1.5, "image_tokens": 0}},
    ],
)
async def test_insane_usage_falls_back_to_the_reported_qualitys_price(
    serve: Serve, bad_usage: dict[str, Any]
) -> None:
    """Counts that are not whole, are negative, absurd or zero are not used: the answer's
    reported quality is priced per image instead."""
    body = images_response("medium", 1056)
    body["usage"].update(bad_usage)
    cost = await _cost(serve, body)
    assert cost == 0.042


async def test_no_usage_and_no_quality_falls_back_to_the_estimate(serve: Serve) -> None:
    """Without usage or a known quality the estimate stands (``auto`` is ``high``)."""
    body = images_response("medium", 1056)
    body.pop("usage")
    body["quality"] = "ultra"
    assert await _cost(serve, body) == 0.167


async def test_a_model_without_token_rates_uses_the_reported_quality(serve: Serve) -> None:
    """gpt-image-1.5's token rates are not in the record: its answer is priced by the
    quality it reports ($0.009 for ``low`` at 1024x1024)."""
    assert await _cost(serve, images_response("low", 272), model="gpt-image-1.5") == 0.009


async def test_an_unreadable_size_falls_back_to_the_estimate(serve: Serve) -> None:
    """A reported size that is not ``WxH`` is not guessed at."""
    body = images_response("low", 272)
    body.pop("usage")
    body["size"] = "huge"
    assert await _cost(serve, body) == 0.167

"""Prompts that cannot be encoded are refused at the request boundary, before any adapter."""

from __future__ import annotations

import pytest
from aiohttp import web
from pydantic import ValidationError

from imagegate import ImageRequest, Route, Router
from imagegate.errors import InvalidRequestError

from ._chosen import Hostile, Serve, start_hostile


@pytest.fixture
async def hostile(serve: Serve) -> Hostile:
    """A hostile upstream on 127.0.0.1 answering with the handler the test sets."""
    return await start_hostile(serve)


LONE_SURROGATES = ["\ud800", "a cat \udfff on a mat", "\udc80\ud83d"]


@pytest.mark.parametrize("prompt", LONE_SURROGATES)
def test_lone_surrogate_prompt_is_a_validation_error(prompt: str) -> None:
    """ImageRequest refuses a prompt with a lone surrogate, naming the field."""
    with pytest.raises(ValidationError, match="prompt"):
        ImageRequest(prompt=prompt)
    with pytest.raises(InvalidRequestError) as info:
        ImageRequest.build(prompt)
    assert info.value.field == "prompt"


def test_paired_surrogates_and_astral_text_pass() -> None:
    """Real non-BMP characters (emoji, CJK extension) are valid prompts."""
    assert ImageRequest(prompt="a 🐈 and 𠀀").prompt == "a 🐈 and 𠀀"


@pytest.mark.parametrize("provider", ["openai", "openai_compatible", "gemini", "flux"])
async def test_lone_surrogate_never_reaches_an_upstream(hostile: Hostile, provider: str) -> None:
    """Router.generate raises InvalidRequestError(field="prompt") and sends nothing."""

    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": {"message": "should not be called"}}, status=500)

    hostile.handler = handler
    model = {"openai": "gpt-image-1.5", "openai_compatible": "some/model",
             "gemini": "gemini-3-pro-image", "flux": "flux-pro-1.1-ultra"}[provider]  # fmt: skip
    route = Route(provider, model=model, base_url=hostile.url, api_key="sk-hostile-12345")
    async with Router([route]) as router:
        with pytest.raises(InvalidRequestError) as info:
            await router.generate("\ud800 a cat")
    assert info.value.field == "prompt"
    assert hostile.requests == []

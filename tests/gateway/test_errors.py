"""imagegate's outcomes reach the client as OpenAI's errors, with the right status."""

from __future__ import annotations

import openai
import pytest

from gateway.conftest import MODEL, Running


async def test_blocked_prompt_is_400_moderation_blocked(gw: Running) -> None:
    """A prompt the provider's safety system refuses: 400, code moderation_blocked."""
    async with gw.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model=MODEL, prompt="a cat [sim:prompt_blocked*9]")
    assert caught.value.code == "moderation_blocked"
    assert "cat" not in caught.value.message


async def test_every_route_failing_is_503_with_retry_after(gw: Running) -> None:
    """Rate limited everywhere: 503, with Retry-After from the upstream's hint."""
    async with gw.client() as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.images.generate(
                model="gpt-image", prompt="a dog [sim:rate_limited*20]", size="1K"
            )
    assert caught.value.status_code == 503
    assert caught.value.code == "all_routes_failed"
    assert int(caught.value.response.headers["Retry-After"]) >= 1
    assert "dog" not in caught.value.message


async def test_deadline_is_504(gw: Running) -> None:
    """The request's own deadline (an imagegate extra) running out: 504."""
    async with gw.client() as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.images.generate(
                model="gpt-image",
                prompt="slow [sim:deadline*20]",
                extra_body={"deadline": 30},
            )
    assert caught.value.status_code == 504
    assert caught.value.code == "deadline_exceeded"


async def test_unknown_model_is_404(gw: Running) -> None:
    """A model name that is no group: NotFoundError naming the param."""
    async with gw.client() as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.images.generate(model="dall-e-3", prompt="x")
    assert caught.value.code == "model_not_found"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "model"


async def test_unknown_field_is_400_naming_it(gw: Running) -> None:
    """A field OpenAI does not have either is refused by name."""
    async with gw.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model=MODEL, prompt="x", extra_body={"colour": "red"})
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "colour"


async def test_edit_without_image_is_400(gw: Running) -> None:
    """An edit body without a file names ``image``."""
    async with gw.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.post(
                "/images/edits",
                body={"model": MODEL, "prompt": "x"},
                files=[("other", ("a.txt", b"hi", "text/plain"))],
                options={"headers": {"Content-Type": "multipart/form-data"}},
                cast_to=object,
            )
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["param"] == "other"

"""The OpenAI-compatible aggregator (OpenRouter style), driven with openai.AsyncOpenAI."""

from __future__ import annotations

import base64
from typing import Any

import openai
import pytest

from imagegate._result import GeneratedImage
from imagegate.testing.simulator import Simulator

MODEL = "google/gemini-3-pro-image-preview"
IMAGE_OUTPUT = {"modalities": ["image", "text"]}


async def _chat(client: openai.AsyncOpenAI, prompt: str, **extra: Any) -> Any:
    return await client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": prompt}],
        extra_body={**IMAGE_OUTPUT, **extra},
    )


def _data_url_image(url: str) -> GeneratedImage:
    header, _, data = url.partition(",")
    assert header == "data:image/png;base64"
    return GeneratedImage(base64.b64decode(data))


async def test_chat_completion_images(sim: Simulator, aggregator: openai.AsyncOpenAI) -> None:
    """``modalities`` + ``image_config`` answer with message.images[] data URLs and a cost."""
    response = await _chat(
        aggregator, "a boat", image_config={"aspect_ratio": "16:9", "image_size": "2K"}
    )
    message = response.choices[0].message
    image = _data_url_image(message.images[0]["image_url"]["url"])
    assert (image.width, image.height) == (2752, 1536)
    assert response.usage is not None
    assert response.usage.model_extra == {"cost": 0.06}
    assert response.choices[0].finish_reason == "stop"
    (event,) = sim.events
    assert (event.provider, event.model, event.size, event.aspect_ratio) == (
        "openai_compatible",
        MODEL,
        "2K",
        "16:9",
    )


async def test_content_parts_are_read_as_the_prompt(
    sim: Simulator, aggregator: openai.AsyncOpenAI
) -> None:
    """A user message given as content parts yields its text as the prompt."""
    await aggregator.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": [{"type": "text", "text": "a boat"}]}],
        extra_body=IMAGE_OUTPUT,
    )
    assert sim.events[0].prompt == "a boat"


async def test_images_routes(sim: Simulator, aggregator: openai.AsyncOpenAI) -> None:
    """The OpenAI-style images route answers b64_json with usage.cost."""
    response = await aggregator.images.generate(model=MODEL, prompt="a boat", size="1024x1536")
    image = GeneratedImage(base64.b64decode(response.data[0].b64_json))
    assert (image.width, image.height) == (1024, 1536)
    assert response.usage is not None
    assert response.usage.model_extra["cost"] == 0.06


async def test_deadline_comes_back_inside_a_200(aggregator: openai.AsyncOpenAI) -> None:
    """Errors after generation started arrive as HTTP 200 with the error in the body."""
    response = await _chat(aggregator, "a boat [sim:deadline]")
    assert response.model_extra["error"]["code"] == 504
    assert "Deadline expired" in response.model_extra["error"]["message"]
    assert response.choices is None


async def test_rate_limited(aggregator: openai.AsyncOpenAI) -> None:
    """429 with OpenRouter's numeric code in the body, and Retry-After."""
    with pytest.raises(openai.RateLimitError) as caught:
        await _chat(aggregator, "x [sim:rate_limited]")
    assert str(caught.value.code) == "429"
    assert int(caught.value.response.headers["retry-after"]) >= 1
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["metadata"]["provider_name"] == "Google"


@pytest.mark.parametrize(
    ("kind", "status", "exception"),
    [
        ("quota_exhausted", 402, openai.APIStatusError),
        ("prompt_blocked", 403, openai.PermissionDeniedError),
        ("overloaded", 503, openai.InternalServerError),
        ("internal", 502, openai.InternalServerError),
    ],
)
async def test_error_statuses(
    aggregator: openai.AsyncOpenAI, kind: str, status: int, exception: type[Exception]
) -> None:
    """Credits, moderation, overload and a provider error use OpenRouter's statuses."""
    with pytest.raises(exception) as caught:
        await _chat(aggregator, f"x [sim:{kind}]")
    assert isinstance(caught.value, openai.APIStatusError)
    assert caught.value.status_code == status


async def test_image_safety_and_refusal_have_no_images(aggregator: openai.AsyncOpenAI) -> None:
    """A filtered image and a text refusal are 200s without ``images``."""
    filtered = await _chat(aggregator, "x [sim:image_safety]")
    assert filtered.choices[0].finish_reason == "content_filter"
    assert filtered.choices[0].message.model_extra.get("images") is None
    refused = await _chat(aggregator, "x [sim:text_refusal]")
    assert "can't create" in refused.choices[0].message.content
    assert refused.choices[0].message.model_extra.get("images") is None


async def test_text_only_chat_is_refused(aggregator: openai.AsyncOpenAI) -> None:
    """Without ``modalities`` the simulated aggregator says it only makes images."""
    with pytest.raises(openai.BadRequestError, match="modalities"):
        await aggregator.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "hello"}]
        )


async def test_wrong_key(sim: Simulator, make_openai: Any) -> None:
    """An unknown key gets OpenRouter's 401."""
    client = make_openai(sim, "openai_compatible", api_key="nope")
    with pytest.raises(openai.AuthenticationError, match="User not found"):
        await _chat(client, "a boat")

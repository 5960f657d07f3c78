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
    extra = response.usage.model_extra
    assert extra["cost"] == pytest.approx(1120 * 120e-6, abs=0.001)  # 2K: 1120 image tokens
    assert extra["is_byok"] is False
    assert response.usage.completion_tokens_details.model_extra["image_tokens"] == 1120
    assert extra["cost_details"]["upstream_inference_cost"] is None
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


async def test_images_api_answers_as_documented(
    sim: Simulator, aggregator: openai.AsyncOpenAI
) -> None:
    """POST /images with resolution and aspect_ratio answers OpenRouter's documented shape:
    created, data[].b64_json with media_type, usage with tokens and cost."""
    raw = await aggregator.post(
        "/images",
        cast_to=object,
        body={"model": MODEL, "prompt": "a boat", "resolution": "2K", "aspect_ratio": "3:4"},
    )
    assert isinstance(raw, dict)
    assert set(raw) == {"created", "data", "usage"}
    (item,) = raw["data"]
    assert item["media_type"] == "image/png"
    image = GeneratedImage(base64.b64decode(item["b64_json"]))
    assert (image.width, image.height) == (1792, 2400)
    usage = raw["usage"]
    assert usage["completion_tokens_details"]["image_tokens"] == 1120
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] == pytest.approx(
        usage["cost_details"]["upstream_inference_prompt_cost"]
        + usage["cost_details"]["upstream_inference_completions_cost"]
    )
    assert sim.events[-1].size == "2K"


async def test_images_api_takes_explicit_pixels_or_a_tier_size(
    aggregator: openai.AsyncOpenAI,
) -> None:
    """``size`` is a tier or explicit pixels; pixels alongside a ratio are refused."""
    raw = await aggregator.post(
        "/images", cast_to=object, body={"model": MODEL, "prompt": "a", "size": "1024x1536"}
    )
    assert isinstance(raw, dict)
    image = GeneratedImage(base64.b64decode(raw["data"][0]["b64_json"]))
    assert (image.width, image.height) == (1024, 1536)
    with pytest.raises(openai.BadRequestError, match="conflicts"):
        await aggregator.post(
            "/images",
            cast_to=object,
            body={"model": MODEL, "prompt": "a", "size": "1024x1536", "aspect_ratio": "1:1"},
        )
    with pytest.raises(openai.BadRequestError, match="aspect_ratio must be one of"):
        await aggregator.post(
            "/images", cast_to=object, body={"model": MODEL, "prompt": "a", "aspect_ratio": "7:5"}
        )


async def test_undocumented_images_generations_is_not_there(
    sim: Simulator, aggregator: openai.AsyncOpenAI
) -> None:
    """OpenRouter documents no /images/generations: the OpenAI-style call gets a 404."""
    with pytest.raises(openai.NotFoundError):
        await aggregator.images.generate(model=MODEL, prompt="a boat", size="1024x1536")
    assert sim.events == []


async def test_deadline_comes_back_inside_a_200(aggregator: openai.AsyncOpenAI) -> None:
    """Errors after generation started arrive as HTTP 200 with the error in the body."""
    response = await _chat(aggregator, "a boat [sim:deadline]")
    assert response.model_extra["error"]["code"] == 504
    assert response.model_extra["error"]["message"] == "Provider returned error"
    assert "Deadline expired" in response.model_extra["error"]["metadata"]["raw"]
    assert response.choices is None


async def test_rate_limited(aggregator: openai.AsyncOpenAI) -> None:
    """429 as OpenRouter relays an upstream limit: no Retry-After, the upstream's words in
    metadata.raw."""
    with pytest.raises(openai.RateLimitError) as caught:
        await _chat(aggregator, "x [sim:rate_limited]")
    assert str(caught.value.code) == "429"
    assert "retry-after" not in caught.value.response.headers
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"] == "Provider returned error"
    metadata = caught.value.body["metadata"]
    assert metadata["provider_name"] == "Google AI Studio"
    assert "temporarily rate-limited upstream" in metadata["raw"]


async def test_moderation_names_the_model(aggregator: openai.AsyncOpenAI) -> None:
    """A flagged prompt is a 403 whose metadata names reasons, input, provider and model."""
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await _chat(aggregator, "x [sim:prompt_blocked]")
    assert isinstance(caught.value.body, dict)
    metadata = caught.value.body["metadata"]
    assert metadata["model_slug"] == MODEL
    assert set(metadata) == {"reasons", "flagged_input", "provider_name", "model_slug"}


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


async def test_answers_without_an_image_give_gemini_s_reason(
    aggregator: openai.AsyncOpenAI,
) -> None:
    """Without an image, native_finish_reason carries Gemini's own reason: a safety
    filter (content_filter), a refusal in words (STOP) or no image and no words."""
    natives = set()
    for attempt in range(8):
        filtered = await _chat(aggregator, f"x{attempt} [sim:image_safety]")
        choice = filtered.choices[0]
        assert choice.finish_reason == "content_filter"
        assert choice.message.model_extra.get("images") is None
        natives.add(choice.model_extra["native_finish_reason"])
        refused = await _chat(aggregator, f"x{attempt} [sim:text_refusal]")
        choice = refused.choices[0]
        assert choice.finish_reason == "stop"
        assert choice.message.model_extra.get("images") is None
        native = choice.model_extra["native_finish_reason"]
        natives.add(native)
        if native == "STOP":
            assert "can't create" in choice.message.content
    assert natives == {"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "STOP", "NO_IMAGE"}


async def test_text_only_chat_is_refused(aggregator: openai.AsyncOpenAI) -> None:
    """Modalities without ``image``: the simulated aggregator says it only makes images;
    without ``modalities`` the image model still answers with an image."""
    with pytest.raises(openai.BadRequestError, match="modalities"):
        await aggregator.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "hello"}],
            extra_body={"modalities": ["text"]},
        )
    response = await aggregator.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hello"}]
    )
    assert response.choices[0].message.model_extra["images"]


async def test_wrong_key(sim: Simulator, make_openai: Any) -> None:
    """An unknown key gets OpenRouter's 401."""
    client = make_openai(sim, "openai_compatible", api_key="nope")
    with pytest.raises(openai.AuthenticationError, match="User not found"):
        await _chat(client, "a boat")

"""OpenAI Images, driven with openai.AsyncOpenAI on its aiohttp transport."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import openai
import pytest

from imagegate._result import GeneratedImage
from imagegate.testing.simulator import Simulator

OpenAIFactory = Callable[..., openai.AsyncOpenAI]


def _images(response: Any) -> list[GeneratedImage]:
    return [GeneratedImage(base64.b64decode(item.b64_json)) for item in response.data]


async def test_gpt_image_b64_with_usage_and_headers(
    sim: Simulator, oai: openai.AsyncOpenAI
) -> None:
    """gpt-image returns n base64 images of the asked size, a usage block and rate headers."""
    raw = await oai.images.with_raw_response.generate(
        model="gpt-image-1.5", prompt="a fox", size="1536x1024", quality="high", n=2
    )
    response = raw.parse()
    images = _images(response)
    assert [(i.width, i.height) for i in images] == [(1536, 1024)] * 2
    assert images[0] != images[1]
    assert response.usage is not None
    # OpenAI's table: 1536x1024 at high quality is 6208 output tokens an image.
    assert response.usage.output_tokens == 2 * 6208
    assert response.usage.output_tokens_details is not None
    assert response.usage.output_tokens_details.image_tokens == 2 * 6208
    assert (response.size, response.quality, response.output_format) == ("1536x1024", "high", "png")
    assert response.background == "opaque"
    assert raw.headers["x-request-id"].startswith("req_")
    assert int(raw.headers["x-ratelimit-remaining-requests"]) < int(
        raw.headers["x-ratelimit-limit-requests"]
    )
    (event,) = sim.events
    assert (event.provider, event.size, event.aspect_ratio, event.n) == ("openai", "1K", "3:2", 2)


async def test_output_format_jpeg(oai: openai.AsyncOpenAI) -> None:
    """``output_format="jpeg"`` returns JPEG bytes."""
    response = await oai.images.generate(
        model="gpt-image-1", prompt="a fox", output_format="jpeg", size="1024x1536"
    )
    (image,) = _images(response)
    assert (image.mime_type, image.width, image.height) == ("image/jpeg", 1024, 1536)


async def test_gpt_image_2_arbitrary_sizes(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    """gpt-image-2 takes any WxH in multiples of 16 up to 3840x2160."""
    response = await oai.images.generate(model="gpt-image-2", prompt="a fox", size="3840x2160")
    (image,) = _images(response)
    assert (image.width, image.height, image.size) == (3840, 2160, "2K")
    assert sim.events[0].size == "2K"


async def test_dall_e_3_url_is_served_and_expires(make_openai: OpenAIFactory) -> None:
    """``response_format=url`` points at the simulator, and the link dies after an hour."""
    # 0.1 ms per simulated second: the hour-long link dies after 0.36 s of real time.
    async with Simulator("healthy", time_scale=0.0001) as sim, aiohttp.ClientSession() as http:
        client = make_openai(sim)
        response = await client.images.generate(
            model="dall-e-3", prompt="a fox", size="1792x1024", response_format="url"
        )
        item = response.data[0]
        assert item.revised_prompt
        assert item.url is not None
        assert item.url.startswith(sim.url)
        async with http.get(item.url) as download:
            assert download.status == 200
            image = GeneratedImage(await download.read())
        assert (image.width, image.height) == (1792, 1024)
        await sim.clock.sleep(3601)
        async with http.get(item.url) as expired:
            assert expired.status == 403
            assert "AuthenticationFailed" in await expired.text()


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"model": "gpt-image-1", "size": "1792x1024"}, "size", "invalid_value"),
        ({"model": "gpt-image-1-mini", "quality": "hd"}, "quality", "invalid_value"),
        (
            {"model": "gpt-image-1", "response_format": "url"},
            "response_format",
            "unknown_parameter",
        ),
        ({"model": "dall-e-3", "n": 2}, "n", "integer_above_max_value"),
        ({"model": "dall-e-3", "size": "1536x1024"}, "size", "invalid_value"),
        ({"model": "dall-e-2", "n": 11}, "n", "integer_above_max_value"),
        ({"model": "gpt-image-2", "size": "1000x1000"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "3840x1024"}, "size", "invalid_value"),
        ({"model": "gpt-image-2", "size": "4096x2048"}, "size", "invalid_value"),
    ],
)
async def test_per_model_rules(
    sim: Simulator, oai: openai.AsyncOpenAI, params: dict[str, Any], param: str, code: str
) -> None:
    """Each model family's size, quality, n and response_format rules give a 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.images.generate(prompt="a fox", **params)
    assert (caught.value.param, caught.value.code) == (param, code)
    assert caught.value.request_id
    assert sim.events[0].outcome == "invalid_request"


async def test_rate_limited_in_both_phrasings(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    """429 rate_limit_exceeded: with retry-after headers and "try again in 12s", or with
    no retry header and "try again after 51.84 seconds"."""
    seen = set()
    for n in range(10):
        with pytest.raises(openai.RateLimitError) as caught:
            await oai.images.generate(model="gpt-image-1", prompt=f"x{n} [sim:rate_limited]")
        error = caught.value
        assert error.code == "rate_limit_exceeded"
        assert error.request_id
        assert error.request_id.startswith("req_")
        headers = error.response.headers
        if "retry-after-ms" in headers:
            milliseconds = int(headers["retry-after-ms"])
            assert 2000 <= milliseconds <= 60000
            assert int(headers["retry-after"]) * 1000 >= milliseconds
            assert re.search(r"Please try again in [\d.]+s\.", error.message)
            seen.add("headers")
        else:
            assert "retry-after" not in headers
            assert re.search(r"Please try again after \d+\.\d\d seconds\.", error.message)
            seen.add("message only")
    assert seen == {"headers", "message only"}


async def test_insufficient_quota(oai: openai.AsyncOpenAI) -> None:
    """Out of credit is also a 429, told apart by its code."""
    with pytest.raises(openai.RateLimitError) as caught:
        await oai.images.generate(model="gpt-image-1", prompt="x [sim:quota_exhausted]")
    assert caught.value.code == "insufficient_quota"
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.parametrize(
    ("kind", "stage"), [("prompt_blocked", "input"), ("image_safety", "output")]
)
async def test_moderation_blocked(oai: openai.AsyncOpenAI, kind: str, stage: str) -> None:
    """gpt-image moderation: 400 moderation_blocked with the moderation stage."""
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.images.generate(model="gpt-image-1", prompt=f"x [sim:{kind}]")
    assert caught.value.code == "moderation_blocked"
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["moderation_details"]["moderation_stage"] == stage


async def test_dall_e_content_policy(oai: openai.AsyncOpenAI) -> None:
    """DALL·E's safety system answers content_policy_violation."""
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.images.generate(model="dall-e-3", prompt="x [sim:prompt_blocked]")
    assert caught.value.code == "content_policy_violation"


@pytest.mark.parametrize(
    ("kind", "status"), [("overloaded", 503), ("internal", 500), ("deadline", 504)]
)
async def test_server_errors(oai: openai.AsyncOpenAI, kind: str, status: int) -> None:
    """5xx answers raise InternalServerError with OpenAI's error body."""
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.images.generate(model="gpt-image-1", prompt=f"x [sim:{kind}]")
    assert caught.value.status_code == status
    assert caught.value.type == "server_error"


async def test_html_502_from_a_proxy(oai: openai.AsyncOpenAI) -> None:
    """A proxy's HTML page becomes an InternalServerError without a code."""
    with pytest.raises(openai.InternalServerError) as caught:
        await oai.images.generate(model="gpt-image-1", prompt="x [sim:html_502]")
    assert caught.value.status_code == 502
    assert caught.value.code is None
    assert "<html>" in str(caught.value.body)


async def test_reset_is_a_connection_error(oai: openai.AsyncOpenAI) -> None:
    """A reset connection surfaces as APIConnectionError."""
    with pytest.raises(openai.APIConnectionError):
        await oai.images.generate(model="gpt-image-1", prompt="x [sim:reset]")


async def test_refusal_is_a_400_without_details(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    """A refusal is not an empty 200: 400 moderation_blocked with no moderation_details,
    not billed."""
    with pytest.raises(openai.BadRequestError) as caught:
        await oai.images.generate(model="gpt-image-1", prompt="x [sim:text_refusal]")
    assert caught.value.code == "moderation_blocked"
    assert isinstance(caught.value.body, dict)
    assert "moderation_details" not in caught.value.body
    (event,) = sim.events
    assert (event.outcome, event.status, event.billed) == ("text_refusal", 400, False)


async def test_output_format_webp(oai: openai.AsyncOpenAI) -> None:
    """``output_format="webp"`` returns WebP bytes."""
    response = await oai.images.generate(
        model="gpt-image-1", prompt="a fox", output_format="webp", size="1536x1024"
    )
    (image,) = _images(response)
    assert (image.mime_type, image.width, image.height) == ("image/webp", 1536, 1024)
    assert response.output_format == "webp"


async def test_auto_quality_is_resolved(oai: openai.AsyncOpenAI) -> None:
    """``quality: auto`` answers with the quality used, mostly medium, never "auto", and
    the output tokens of that quality."""
    tokens = {"low": 272, "medium": 1056, "high": 4160}
    used = []
    for n in range(8):
        response = await oai.images.generate(
            model="gpt-image-1", prompt=f"a fox {n}", size="1024x1024"
        )
        assert response.quality in tokens
        assert response.usage is not None
        assert response.usage.output_tokens == tokens[response.quality]
        used.append(response.quality)
    assert used.count("medium") > len(used) / 2
    assert "high" in used


async def test_size_ignored(oai: openai.AsyncOpenAI) -> None:
    """A 2K request silently answered at 1K."""
    response = await oai.images.generate(
        model="gpt-image-2", prompt="x [sim:size_ignored]", size="2048x2048"
    )
    (image,) = _images(response)
    assert (image.width, image.height) == (1024, 1024)


async def test_wrong_key_is_masked(sim: Simulator, make_openai: OpenAIFactory) -> None:
    """401 invalid_api_key; the message shows only the key's ends."""
    client = make_openai(sim, api_key="sk-this-is-a-secret-key-1234")
    with pytest.raises(openai.AuthenticationError) as caught:
        await client.images.generate(model="gpt-image-1", prompt="x")
    assert caught.value.code == "invalid_api_key"
    assert "secret" not in caught.value.message
    assert "1234" in caught.value.message


async def test_unknown_path(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """Other paths get OpenAI's 'Invalid URL' 404."""
    async with http.post(f"{sim.base_url('openai')}/images/variations", json={}) as response:
        assert response.status == 404
        assert "Invalid URL" in (await response.json())["error"]["message"]

"""The Gemini API, driven with google-genai: each success parsed, each failure the SDK's own."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate.testing.simulator import Simulator

FAST = 0.0001
MODEL = "gemini-3-pro-image"
GeminiFactory = Callable[..., genai.Client]


def _config(size: Size = "1K", ratio: str = "1:1") -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio=ratio, image_size=size),
    )


def _final_images(response: types.GenerateContentResponse) -> list[GeneratedImage]:
    return [
        GeneratedImage(part.inline_data.data)
        for part in response.parts or []
        if part.inline_data is not None and part.inline_data.data and not part.thought
    ]


async def _generate(client: genai.Client, prompt: str, **config: Any) -> Any:
    return await client.aio.models.generate_content(
        model=config.pop("model", MODEL), contents=prompt, config=_config(**config)
    )


@pytest.mark.parametrize(
    ("model", "size", "ratio", "pixels"),
    [
        ("gemini-3-pro-image", "1K", "16:9", (1376, 768)),
        ("gemini-3-pro-image-preview", "2K", "1:1", (2048, 2048)),
        ("gemini-3.1-flash-image", "4K", "9:16", (3072, 5504)),
        ("gemini-3-pro-image", "1K", "21:9", (1584, 672)),
        ("gemini-2.5-flash-image", "1K", "16:9", (1344, 768)),
        ("gemini-2.5-flash-image", "1K", "3:4", (864, 1184)),
    ],
)
async def test_success_has_the_model_s_pixel_size(
    sim: Simulator,
    gemini: genai.Client,
    model: str,
    size: Size,
    ratio: str,
    pixels: tuple[int, int],
) -> None:
    """The image has the exact pixels of the model's table for (tier, aspect ratio)."""
    response = await _generate(gemini, "a lighthouse", model=model, size=size, ratio=ratio)
    (image,) = _final_images(response)
    assert (image.width, image.height) == pixels
    # Gemini 3 image models answer JPEG; 2.5 Flash Image PNG.
    assert image.mime_type == ("image/png" if "2.5" in model else "image/jpeg")
    (event,) = sim.events
    assert (event.provider, event.model, event.size, event.aspect_ratio) == (
        "gemini",
        model,
        size,
        ratio,
    )
    assert (event.outcome, event.status, event.billed) == ("success", 200, True)
    assert (event.width, event.height) == pixels
    assert event.bytes_sent > len(image.data)


async def test_gemini_3_signs_its_answer_without_showing_thoughts(gemini: genai.Client) -> None:
    """Without includeThoughts: no thought parts; the narrative text and the JPEG image
    carry the thought signature; usage counts the hidden thoughts and the service tier."""
    response = await _generate(gemini, "a lighthouse", size="2K", ratio="16:9")
    candidate = response.candidates[0]
    assert candidate.index == 0
    parts = candidate.content.parts
    assert [bool(p.thought) for p in parts] == [False, False]
    assert parts[0].text
    assert parts[0].thought_signature
    assert parts[1].inline_data.mime_type == "image/jpeg"
    assert parts[1].thought_signature
    usage = response.usage_metadata
    assert usage.thoughts_token_count > 0
    assert usage.candidates_tokens_details[0].modality == types.MediaModality.IMAGE
    assert usage.candidates_tokens_details[0].token_count == 1120
    assert response.model_version == MODEL
    assert response.response_id
    assert response.create_time is None  # the Gemini API sends none; Vertex does


async def test_include_thoughts_shows_them_first(gemini: genai.Client) -> None:
    """With includeThoughts, thought parts (text and an interim image) come first."""
    config = _config("2K", "16:9")
    config.thinking_config = types.ThinkingConfig(include_thoughts=True)
    response = await gemini.aio.models.generate_content(
        model=MODEL, contents="a lighthouse", config=config
    )
    parts = response.candidates[0].content.parts
    assert [bool(p.thought) for p in parts] == [True, True, False, False]
    interim = GeneratedImage(parts[1].inline_data.data)
    assert interim.width < 2752


async def test_image_only_modality_has_no_narrative(gemini: genai.Client) -> None:
    """responseModalities ["IMAGE"]: the signed image is the only part."""
    response = await gemini.aio.models.generate_content(
        model=MODEL,
        contents="a lighthouse",
        config=types.GenerateContentConfig(response_modalities=["IMAGE"]),
    )
    (part,) = response.candidates[0].content.parts
    assert part.inline_data is not None
    assert part.thought_signature


async def test_flash_image_ignores_image_size(sim: Simulator, gemini: genai.Client) -> None:
    """2.5 Flash Image renders 1K whatever imageSize says, and the event says so."""
    response = await _generate(gemini, "a fox", model="gemini-2.5-flash-image", size="4K")
    (image,) = _final_images(response)
    assert (image.width, image.height, image.size) == (1024, 1024, "1K")
    assert response.text == "Here is the image you asked for."
    assert sim.events[0].outcome == "size_ignored"


async def test_candidate_count_gives_several_images(gemini: genai.Client) -> None:
    """``candidate_count`` returns that many candidates, each with an image."""
    response = await gemini.aio.models.generate_content(
        model="gemini-2.5-flash-image",
        contents="two cats",
        config=types.GenerateContentConfig(candidate_count=2),
    )
    images = [
        GeneratedImage(part.inline_data.data)
        for candidate in response.candidates
        for part in candidate.content.parts
        if part.inline_data
    ]
    assert len(images) == 2
    assert images[0] != images[1]


@pytest.mark.parametrize("api_version", ["v1", "v1beta", "v1alpha"])
async def test_every_api_version_is_served(
    sim: Simulator, make_gemini: GeminiFactory, api_version: str
) -> None:
    """google-genai 3.x calls /v1, 1.x and 2.x /v1beta; both work, and /v1alpha too."""
    client = make_gemini(sim, api_version=api_version)
    (image,) = _final_images(await _generate(client, "a lighthouse"))
    assert image.size == "1K"


async def test_raw_rest_with_query_key_and_snake_case(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """``?key=`` and snake_case field names work, as on the real service (LiteLLM uses them)."""
    body = {
        "contents": [{"parts": [{"text": "a cat"}]}],
        "generation_config": {
            "response_modalities": ["IMAGE", "TEXT"],
            "image_config": {"aspect_ratio": "4:3", "image_size": "2K"},
        },
    }
    url = f"{sim.base_url('gemini')}/v1beta/models/{MODEL}:generateContent"
    async with http.post(url, json=body, params={"key": sim.api_key("gemini")}) as response:
        assert response.status == 200
        payload = await response.json()
    parts = payload["candidates"][0]["content"]["parts"]
    assert parts[-1]["inlineData"]["mimeType"] == "image/jpeg"
    assert payload["usageMetadata"]["serviceTier"] == "standard"
    assert sim.events[0].aspect_ratio == "4:3"
    assert (sim.events[0].width, sim.events[0].height) == (2400, 1792)


async def test_stream_generate_content(gemini: genai.Client) -> None:
    """``streamGenerateContent?alt=sse`` with includeThoughts sends the thoughts first,
    then the image."""
    config = _config("1K", "16:9")
    config.thinking_config = types.ThinkingConfig(include_thoughts=True)
    chunks = [
        chunk
        async for chunk in await gemini.aio.models.generate_content_stream(
            model=MODEL, contents="a lighthouse", config=config
        )
    ]
    assert len(chunks) == 2
    assert all(part.thought for part in chunks[0].parts)
    (image,) = _final_images(chunks[1])
    assert (image.width, image.height) == (1376, 768)
    assert chunks[1].candidates[0].finish_reason == types.FinishReason.STOP


async def test_rate_limited_carries_quota_failure_and_retry_info(gemini: genai.Client) -> None:
    """429 RESOURCE_EXHAUSTED as recorded: details Help, QuotaFailure, RetryInfo in that
    order; retryDelay in whole seconds, the message's "Please retry in" to the nanosecond."""
    with pytest.raises(errors.ClientError) as caught:
        await _generate(gemini, "a cat [sim:rate_limited]")
    error = caught.value
    assert (error.code, error.status) == (429, "RESOURCE_EXHAUSTED")
    details = error.details["error"]["details"]
    assert [d["@type"].rsplit(".", 1)[1] for d in details] == [
        "Help",
        "QuotaFailure",
        "RetryInfo",
    ]
    delay = details[2]["retryDelay"]
    assert re.fullmatch(r"\d+s", delay)
    said = re.search(r"Please retry in (\d+\.\d{9})s\.$", error.message)
    assert said is not None
    assert int(float(said[1])) == int(delay[:-1])
    (violation,) = details[1]["violations"]  # a paid key: the one quota it hit
    assert violation["quotaId"] == "GenerateRequestsPerMinutePerProjectPerModel"
    assert violation["quotaMetric"].endswith("generate_content_paid_tier_requests")
    assert violation["quotaDimensions"]["model"] == MODEL
    assert f"* Quota exceeded for metric: {violation['quotaMetric']}" in error.message


async def test_per_day_quota_names_a_per_day_quota(gemini: genai.Client) -> None:
    """The daily quota's quotaId says PerDay; RetryInfo waits for the daily reset."""
    with pytest.raises(errors.ClientError) as caught:
        await _generate(gemini, "a cat [sim:quota_exhausted]")
    details = caught.value.details["error"]["details"]
    failure = next(d for d in details if d["@type"].endswith("QuotaFailure"))
    assert "PerDay" in failure["violations"][0]["quotaId"]
    retry = next(d for d in details if d["@type"].endswith("RetryInfo"))
    assert 3600 < float(retry["retryDelay"][:-1]) <= 86400


async def test_free_tier_429_names_every_quota_it_broke(make_gemini: GeminiFactory) -> None:
    """A free-tier key's 429 lists the input-token and request quotas per minute, and the
    per-day one when that ran out, one message line each."""
    async with Simulator("free-tier", time_scale=FAST) as sim:
        client = make_gemini(sim)
        with pytest.raises(errors.ClientError) as caught:
            await _generate(client, "a cat [sim:quota_exhausted]")
    error = caught.value
    failure = next(d for d in error.details["error"]["details"] if "QuotaFailure" in d["@type"])
    assert [v["quotaId"] for v in failure["violations"]] == [
        "GenerateContentInputTokensPerModelPerMinute-FreeTier",
        "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
        "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
    ]
    assert error.message.count("* Quota exceeded for metric:") == 3


async def test_bad_field_is_named_in_a_bad_request_detail(gemini: genai.Client) -> None:
    """400 INVALID_ARGUMENT carries BadRequest.fieldViolations naming the field."""
    with pytest.raises(errors.ClientError) as caught:
        await gemini.aio.models.generate_content(
            model=MODEL,
            contents="a cat",
            config={"image_config": {"image_size": "8K"}},
        )
    (detail,) = caught.value.details["error"]["details"]
    assert detail["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    (violation,) = detail["fieldViolations"]
    assert violation["field"] == "generation_config.image_config.image_size"


async def test_overloaded_says_one_of_two_things(gemini: genai.Client) -> None:
    """503 UNAVAILABLE says "overloaded" or "Deadline expired", as real outages did."""
    said = set()
    for n in range(12):
        with pytest.raises(errors.ServerError) as caught:
            await _generate(gemini, f"a cat {n} [sim:overloaded]")
        assert (caught.value.code, caught.value.status) == (503, "UNAVAILABLE")
        said.add(caught.value.message)
    assert said == {
        "The model is overloaded. Please try again later.",
        "Deadline expired before operation could complete.",
    }


@pytest.mark.parametrize(
    ("kind", "code", "status", "message"),
    [
        ("deadline", 504, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        ("internal", 500, "INTERNAL", "An internal error has occurred."),
        ("html_502", 502, "Bad Gateway", "<html>"),
    ],
)
async def test_server_errors(
    sim: Simulator, gemini: genai.Client, kind: str, code: int, status: str, message: str
) -> None:
    """5xx answers raise ServerError with Google's status, or the proxy's HTML as is."""
    with pytest.raises(errors.ServerError) as caught:
        await _generate(gemini, f"a cat [sim:{kind}]", size="4K")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.message.startswith(message)
    (event,) = sim.events
    assert (event.outcome, event.status, event.billed) == (kind, code, False)


async def test_deadline_answers_at_the_server_deadline(gemini: genai.Client) -> None:
    """A 504 arrives after the deadline (600 simulated s), not before."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(errors.ServerError):
        await _generate(gemini, "a cat [sim:deadline]")
    assert loop.time() - started >= 600 * FAST


async def test_prompt_blocked(sim: Simulator, gemini: genai.Client) -> None:
    """HTTP 200, no candidates, promptFeedback.blockReason."""
    response = await _generate(gemini, "something forbidden [sim:prompt_blocked]")
    assert response.candidates is None
    assert response.prompt_feedback.block_reason == types.BlockedReason.PROHIBITED_CONTENT
    assert (sim.events[0].outcome, sim.events[0].billed) == ("prompt_blocked", False)


async def test_answers_without_an_image_as_they_really_come(gemini: genai.Client) -> None:
    """A filtered image: IMAGE_SAFETY without content, IMAGE_PROHIBITED_CONTENT with
    ``content: {role: model}`` and a finishMessage, or IMAGE_RECITATION. No image for
    other reasons: a refusal in text (STOP), NO_IMAGE without content, STOP with content
    but no parts, IMAGE_OTHER."""
    seen: dict[str, Any] = {}
    for n in range(24):
        for kind in ("image_safety", "text_refusal"):
            response = await _generate(gemini, f"x{n} [sim:{kind}]")
            (candidate,) = response.candidates
            assert _final_images(response) == []
            reason = candidate.finish_reason.value
            shape = "text" if candidate.content and candidate.content.parts else "no parts"
            seen[reason if reason != "STOP" else f"STOP/{shape}"] = candidate
    assert set(seen) == {
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "STOP/text",
        "STOP/no parts",
        "NO_IMAGE",
        "IMAGE_OTHER",
    }
    assert seen["IMAGE_SAFETY"].content is None
    prohibited = seen["IMAGE_PROHIBITED_CONTENT"]
    assert prohibited.content.role == "model"
    assert prohibited.content.parts is None
    assert seen["NO_IMAGE"].content is None
    assert "can't create that image" in seen["STOP/text"].content.parts[0].text


async def test_prohibited_image_says_why_in_finish_message(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """On the wire, a withheld image's candidate carries Google's finishMessage (the
    google-genai SDK drops it when reading Gemini API answers)."""
    url = f"{sim.base_url('gemini')}/v1beta/models/{MODEL}:generateContent"
    reasons = {}
    for n in range(12):
        body = {"contents": [{"parts": [{"text": f"x{n} [sim:image_safety]"}]}]}
        async with http.post(url, json=body, params={"key": sim.api_key("gemini")}) as response:
            (candidate,) = (await response.json())["candidates"]
        reasons[candidate["finishReason"]] = candidate
    prohibited = reasons["IMAGE_PROHIBITED_CONTENT"]
    assert prohibited["content"] == {"role": "model"}
    assert "Prohibited Use policy" in prohibited["finishMessage"]


async def test_text_refusal_is_billed_and_logged(sim: Simulator, gemini: genai.Client) -> None:
    """An answer without an image is still billed, and the event says why."""
    await _generate(gemini, "x [sim:text_refusal]")
    assert (sim.events[0].outcome, sim.events[0].billed) == ("text_refusal", True)


async def test_size_ignored(sim: Simulator, gemini: genai.Client) -> None:
    """A 4K request silently answered at 2K."""
    (image,) = _final_images(await _generate(gemini, "x [sim:size_ignored]", size="4K"))
    assert image.size == "2K"
    assert (sim.events[0].outcome, sim.events[0].width) == ("size_ignored", 2048)


async def test_connection_reset(sim: Simulator, gemini: genai.Client) -> None:
    """The server drops the connection with a TCP reset after doing the work."""
    with pytest.raises(aiohttp.ClientConnectionError):
        await _generate(gemini, "x [sim:reset]")
    (event,) = sim.events
    assert (event.outcome, event.status, event.billed) == ("reset", None, True)


async def test_truncated_body(sim: Simulator, gemini: genai.Client) -> None:
    """A Content-Length is declared, half the body sent, the connection closed."""
    with pytest.raises(aiohttp.ClientPayloadError):
        await _generate(gemini, "x [sim:truncated]")
    (event,) = sim.events
    assert event.outcome == "truncated"
    assert event.width is None
    assert event.bytes_sent > 0


async def test_slow_body_arrives_eventually(sim: Simulator, gemini: genai.Client) -> None:
    """A trickling body still parses when the client waits for it."""
    (image,) = _final_images(await _generate(gemini, "x [sim:slow_body]"))
    assert image.size == "1K"
    (event,) = sim.events
    assert event.outcome == "slow_body"
    assert event.ended is not None
    assert event.ended - event.started >= event.latency_s


async def test_slow_body_times_out_the_client_and_is_logged_disconnected(
    make_gemini: GeminiFactory,
) -> None:
    """A client timeout mid-body cancels the handler; the attempt is still billed."""
    trickle = {
        "name": "trickle",
        "profiles": [
            {"provider": "gemini", "outcomes": {"slow_body": 1}, "latency_s": 0, "trickle_s": 1e4}
        ],
    }
    # The body takes 1 s of real time to trickle in; the client gives up after 0.3 s.
    async with Simulator(trickle, time_scale=0.0001) as sim:
        client = make_gemini(sim, timeout=300)
        with pytest.raises(TimeoutError):
            await _generate(client, "x")
        await client.aio.aclose()
        stats = await sim.wait_idle()
        assert (stats.in_flight, stats.open_connections) == (0, 0)
        (event,) = sim.events
        assert (event.outcome, event.planned, event.billed) == ("disconnected", "slow_body", True)
        assert event.status is None
        assert event.bytes_sent > 0


@pytest.mark.parametrize(
    ("api_key", "code", "status", "reason"),
    [
        ("wrong-key", 400, "INVALID_ARGUMENT", "API_KEY_INVALID"),
    ],
)
async def test_invalid_key(
    sim: Simulator,
    make_gemini: GeminiFactory,
    api_key: str,
    code: int,
    status: str,
    reason: str,
) -> None:
    """A wrong key gets Google's API_KEY_INVALID error, and the key is not echoed."""
    client = make_gemini(sim, api_key=api_key)
    with pytest.raises(errors.ClientError) as caught:
        await _generate(client, "a cat")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.details["error"]["details"][0]["reason"] == reason
    assert api_key not in str(caught.value)
    assert sim.events[0].outcome == "auth_error"


async def test_missing_key(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """No key at all: 403 PERMISSION_DENIED with Google's JSON content type."""
    url = f"{sim.base_url('gemini')}/v1/models/{MODEL}:generateContent"
    async with http.post(url, json={"contents": [{"parts": [{"text": "x"}]}]}) as response:
        assert response.status == 403
        assert response.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert (await response.json())["error"]["status"] == "PERMISSION_DENIED"


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"image_config": {"image_size": "3K"}}, "unsupported image size"),
        ({"image_config": {"aspect_ratio": "wide"}}, "unsupported aspect ratio"),
        ({"response_modalities": ["TEXT"]}, "response modalities"),
    ],
)
async def test_invalid_arguments(
    gemini: genai.Client, config: dict[str, Any], fragment: str
) -> None:
    """Bad image settings are 400 INVALID_ARGUMENT."""
    with pytest.raises(errors.ClientError) as caught:
        await gemini.aio.models.generate_content(
            model=MODEL, contents="x", config=types.GenerateContentConfig(**config)
        )
    assert (caught.value.code, caught.value.status) == (400, "INVALID_ARGUMENT")
    assert fragment in caught.value.message


async def test_bad_marker_is_a_400(gemini: genai.Client) -> None:
    """An unknown ``[sim:...]`` marker fails loudly instead of being ignored."""
    with pytest.raises(errors.ClientError, match="not KIND"):
        await _generate(gemini, "x [sim:nonsense]")


async def test_model_without_profile_is_404(make_gemini: GeminiFactory) -> None:
    """In a scenario that does not serve a model, the API answers 404 NOT_FOUND."""
    only_flux = {"name": "only-flux", "profiles": [{"provider": "flux"}]}
    async with Simulator(only_flux, time_scale=FAST) as sim:
        client = make_gemini(sim)
        with pytest.raises(errors.ClientError) as caught:
            await _generate(client, "x")
        assert (caught.value.code, caught.value.status) == (404, "NOT_FOUND")
        assert sim.events[0].outcome == "not_found"

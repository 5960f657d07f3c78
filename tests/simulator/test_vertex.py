"""Vertex AI, driven with google-genai: regional, global and express paths."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

from imagegate._result import GeneratedImage
from imagegate.testing.simulator import Simulator

GeminiFactory = Callable[..., genai.Client]
MODEL = "gemini-3-pro-image-preview"


def _vertex(make: GeminiFactory, sim: Simulator, how: str, **http: Any) -> genai.Client:
    token = Credentials(token=sim.api_key("vertex"))
    options: dict[str, Any] = {
        "regional": {"project": "sim-project", "location": "us-central1", "credentials": token},
        "global": {"project": "sim-project", "location": "global", "credentials": token},
        "express": {"api_key": sim.api_key("vertex")},
    }[how]
    return make(sim, provider="vertex", client_options=options, **http)


async def _generate(client: genai.Client, prompt: str = "a dog", size: str = "1K") -> Any:
    return await client.aio.models.generate_content(
        model=MODEL,
        contents=prompt,
        config=types.GenerateContentConfig(
            image_config=types.ImageConfig(aspect_ratio="4:3", image_size=size)
        ),
    )


@pytest.mark.parametrize("how", ["regional", "global", "express"])
@pytest.mark.parametrize("api_version", ["v1beta1", "v1"])
async def test_every_path_generates(
    sim: Simulator, make_gemini: GeminiFactory, how: str, api_version: str
) -> None:
    """Bearer token with project/location, or an API key in express mode, on v1 and v1beta1."""
    client = _vertex(make_gemini, sim, how, api_version=api_version)
    response = await _generate(client, size="2K")
    (image,) = [
        GeneratedImage(p.inline_data.data)
        for p in response.parts
        if p.inline_data and not p.thought
    ]
    assert (image.width, image.height) == (2400, 1792)
    (event,) = sim.events
    assert (event.provider, event.model, event.size, event.outcome) == (
        "vertex",
        MODEL,
        "2K",
        "success",
    )


async def test_bad_token_is_unauthenticated(sim: Simulator, make_gemini: GeminiFactory) -> None:
    """A bearer token the simulator does not know gets 401 UNAUTHENTICATED."""
    client = make_gemini(
        sim,
        provider="vertex",
        client_options={
            "project": "p",
            "location": "global",
            "credentials": Credentials(token="not-the-token"),
        },
    )
    with pytest.raises(errors.ClientError) as caught:
        await _generate(client)
    assert (caught.value.code, caught.value.status) == (401, "UNAUTHENTICATED")
    assert sim.events[0].outcome == "auth_error"


async def test_bad_express_key(sim: Simulator, make_gemini: GeminiFactory) -> None:
    """A wrong express-mode key gets API_KEY_INVALID for aiplatform.googleapis.com."""
    client = make_gemini(sim, provider="vertex", api_key="wrong")
    with pytest.raises(errors.ClientError) as caught:
        await _generate(client)
    detail = caught.value.details["error"]["details"][0]
    assert (caught.value.code, detail["reason"]) == (400, "API_KEY_INVALID")
    assert detail["metadata"]["service"] == "aiplatform.googleapis.com"


async def test_vertex_429_has_no_retry_info(sim: Simulator, make_gemini: GeminiFactory) -> None:
    """Vertex's 429 is the plain 'Resource exhausted' body, without RetryInfo."""
    client = _vertex(make_gemini, sim, "global")
    with pytest.raises(errors.ClientError) as caught:
        await _generate(client, "x [sim@vertex:rate_limited]")
    assert (caught.value.code, caught.value.status) == (429, "RESOURCE_EXHAUSTED")
    assert caught.value.message.startswith("Resource exhausted.")
    assert "details" not in caught.value.details["error"]


async def test_deadline_on_vertex(sim: Simulator, make_gemini: GeminiFactory) -> None:
    """Vertex answers 504 at its deadline (300 s for 1K and 2K in `healthy`)."""
    client = _vertex(make_gemini, sim, "regional")
    with pytest.raises(errors.ServerError) as caught:
        await _generate(client, "x [sim:deadline]")
    assert caught.value.code == 504
    assert sim.events[0].latency_s == 300


async def test_vertex_answer_envelope(sim: Simulator, make_gemini: GeminiFactory) -> None:
    """Vertex stamps createTime and usageMetadata.trafficType, and leaves its candidates
    unnumbered (no ``index``), unlike the Gemini API."""
    client = _vertex(make_gemini, sim, "global")
    response = await _generate(client)
    assert response.create_time is not None
    assert response.usage_metadata.traffic_type == types.TrafficType.ON_DEMAND
    (candidate,) = response.candidates
    assert candidate.index is None
    assert candidate.content.parts[-1].inline_data.mime_type == "image/jpeg"

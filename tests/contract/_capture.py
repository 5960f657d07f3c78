"""Raw answers of the shipped simulator, captured over HTTP for the shape checks.

Each provider is asked the way its SDK asks (path, auth header, body) with a ``[sim:KIND]``
marker in the prompt that forces one outcome; the answer is kept as status, headers and
parsed JSON body. Flux is followed from submit through every poll.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from imagegate.testing.simulator import Simulator

OUTCOMES = ("success", "no_image", "rate_limited", "overloaded", "bad_request")
"""The paths each provider is exercised through."""

_MARKER = {
    "success": "[sim:success]",
    "no_image": "[sim:text_refusal]",
    "rate_limited": "[sim:rate_limited]",
    "overloaded": "[sim:overloaded]",
    "bad_request": "",
}
"""How each path is forced; ``bad_request`` instead sends a value the API refuses (an
image size of 5K, a Flux width that is not a multiple of 32, a 999x999 OpenAI size)."""

MODELS = {
    "gemini": "gemini-3-pro-image-preview",
    "vertex": "gemini-3-pro-image-preview",
    "openai": "gpt-image-1",
    "openrouter": "google/gemini-2.5-flash-image",
    "flux": "flux-pro-1.1",
}


def _request(
    sim: Simulator, provider: str, prompt: str, *, bad: bool
) -> tuple[str, dict[str, str], Any]:
    """URL, headers and JSON body as the provider's SDK sends them (``bad``: with one value
    the API refuses)."""
    model = MODELS[provider]
    size = "5K" if bad else "1K"
    if provider in ("gemini", "vertex"):
        where = (
            "/v1beta/models"
            if provider == "gemini"
            else "/v1beta1/projects/p/locations/global/publishers/google/models"
        )
        key = sim.api_key(provider)
        auth = (
            {"x-goog-api-key": key} if provider == "gemini" else {"authorization": f"Bearer {key}"}
        )
        body = {
            "contents": [{"parts": [{"text": prompt}], "role": "user"}],
            "generationConfig": {
                "responseModalities": ["TEXT", "IMAGE"],
                "imageConfig": {"aspectRatio": "1:1", "imageSize": size},
            },
        }
        return f"{sim.base_url(provider)}{where}/{model}:generateContent", auth, body
    if provider == "openai":
        auth = {"authorization": f"Bearer {sim.api_key('openai')}"}
        body = {"model": model, "prompt": prompt, "n": 1, "size": "999x999" if bad else "1024x1024"}
        return f"{sim.base_url('openai')}/images/generations", auth, body
    if provider == "openrouter":
        auth = {"authorization": f"Bearer {sim.api_key('openai_compatible')}"}
        body = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "modalities": ["image", "text"],
            "image_config": {"aspect_ratio": "1:1", "image_size": size},
        }
        return f"{sim.base_url('openai_compatible')}/chat/completions", auth, body
    auth = {"x-key": sim.api_key("flux")}
    body = {"prompt": prompt, "width": 1000 if bad else 1024, "height": 768}
    return f"{sim.base_url('flux')}/v1/{model}", auth, body


async def _exchange(
    session: aiohttp.ClientSession, method: str, url: str, headers: dict[str, str], body: Any
) -> dict[str, Any]:
    async with session.request(method, url, headers=headers, json=body) as resp:
        text = await resp.text()
        try:
            parsed: Any = await resp.json(content_type=None)
        except ValueError:
            parsed = text
        return {"status": resp.status, "headers": dict(resp.headers), "body": parsed}


async def capture(sim: Simulator, provider: str, outcome: str) -> list[dict[str, Any]]:
    """The simulator's raw answers to one request forced to ``outcome`` (Flux: the submit
    and every poll until a terminal status)."""
    prompt = f"a lighthouse {_MARKER[outcome]}".strip()
    url, headers, body = _request(sim, provider, prompt, bad=outcome == "bad_request")
    context = {"model": MODELS[provider], "platform": provider}
    async with aiohttp.ClientSession() as session:
        first = await _exchange(session, "POST", url, headers, body)
        answers = [{**first, **context, "stage": "submit"}]
        if provider != "flux" or first["status"] != 200 or not isinstance(first["body"], dict):
            return answers
        polling_url = str(first["body"].get("polling_url"))
        for _ in range(2_000):
            poll = await _exchange(session, "GET", polling_url, headers, None)
            answers.append({**poll, **context, "stage": "poll"})
            status = poll["body"].get("status") if isinstance(poll["body"], dict) else None
            if status != "Pending":
                break
            await asyncio.sleep(0.001)
        return answers

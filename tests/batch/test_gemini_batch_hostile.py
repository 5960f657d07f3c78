"""`GeminiBatch` against a hostile Batch API (a small server of the test's own): answers
are untrusted. A job name that is not ``batches/<id>`` is refused before it reaches a
URL; an answer for another item, bytes that are not an image, and a missing answer are
each that item's error, never an image."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from imagegate._provider import ProviderRequest
from imagegate.batch import GeminiBatch
from imagegate.errors import TransportError, UpstreamError
from imagegate.providers.gemini import GeminiProvider
from imagegate.testing._images import make_jpeg

from ._serve import serve

MODEL = "gemini-3-pro-image"
_META = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"


def _image_answer(key: str, data: bytes) -> dict[str, Any]:
    """An inlined response in the shape google-genai reads (``_InlinedResponse_from_mldev``)."""
    part = {"inlineData": {"mimeType": "image/jpeg", "data": base64.b64encode(data).decode()}}
    candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
    return {"metadata": {"key": key}, "response": {"candidates": [candidate]}}


def _job(name: str, answers: list[dict[str, Any]] | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"@type": _META, "model": f"models/{MODEL}", "name": name}
    if answers is None:
        return {"name": name, "metadata": {**metadata, "state": "BATCH_STATE_PENDING"}}
    metadata |= {"state": "BATCH_STATE_SUCCEEDED"}
    metadata["output"] = {"inlinedResponses": {"inlinedResponses": answers}}
    return {"name": name, "metadata": metadata, "done": True}


@pytest.fixture
async def hostile() -> AsyncIterator[str]:
    """A server whose create answers a path-like job name and whose get answers three
    bad answers for three items."""
    good = make_jpeg(1024, 1024)

    async def create(request: web.Request) -> web.Response:
        return web.json_response(_job("batches/../../v1beta/models/x", None))

    async def get(request: web.Request) -> web.Response:
        answers = [
            _image_answer("someone-else", good),
            _image_answer("b", b"\xff\xd8 not a jpeg at all"),
        ]  # and none for "c"
        return web.json_response(_job(f"batches/{request.match_info['id']}", answers))

    app = web.Application()
    app.router.add_post("/v1beta/models/{model}:batchGenerateContent", create)
    app.router.add_get("/v1beta/batches/{id}", get)
    async with serve(app) as url:
        yield url


async def test_hostile_answers_are_each_items_error(hostile: str) -> None:
    """Nothing a hostile Batch API sends becomes a delivered image."""
    provider = GeminiProvider(api_key="k", base_url=hostile, api_version="v1beta")
    batch = GeminiBatch(provider, MODEL)
    calls = [(i, ProviderRequest(prompt=f"p {i}", model=MODEL, size="1K")) for i in "abc"]
    try:
        with pytest.raises(TransportError, match="no usable job name"):
            await batch.create("d", [batch.inline_request(i, call) for i, call in calls])
        job = await batch.get("batches/abc123")
        answers = batch.answers(job, calls)
    finally:
        await provider.aclose()
    assert [a.response for a in answers] == [None, None, None]
    assert isinstance(answers[0].error, UpstreamError)  # another item's answer: not trusted
    assert isinstance(answers[1].error, TransportError)  # not an image
    assert "no answer" in str(answers[2].error)
    assert [a.billed for a in answers] == [False, True, False]  # a bad image is paid for


@pytest.fixture
async def shuffled() -> AsyncIterator[str]:
    """A server whose job answers in another order than asked (keyed by metadata), with
    a duplicated key, and a second job whose answers carry no key and one is missing."""
    images = {key: make_jpeg(1024, 1024, seed=n) for n, key in enumerate("abcd")}

    async def get(request: web.Request) -> web.Response:
        if request.match_info["id"] == "keyed":
            keyed = [_image_answer(k, images[k]) for k in "cbad"] + [_image_answer("d", b"x")]
            return web.json_response(_job("batches/keyed", keyed))
        unkeyed = [_image_answer("", images[k]) for k in "ac"]
        for answer in unkeyed:
            del answer["metadata"]
        return web.json_response(_job("batches/unkeyed", unkeyed))

    app = web.Application()
    app.router.add_get("/v1beta/batches/{id}", get)
    async with serve(app) as url:
        yield url


async def test_answers_go_to_the_item_their_key_names(shuffled: str) -> None:
    """Answers in another order go to the items their keys name; an item two answers
    claim gets neither; answers with no key are not placed by position when one is
    missing (each would land on another item)."""
    provider = GeminiProvider(api_key="k", base_url=shuffled, api_version="v1beta")
    batch = GeminiBatch(provider, MODEL)
    calls = [(i, ProviderRequest(prompt=f"p {i}", model=MODEL, size="1K")) for i in "abcd"]
    try:
        keyed = batch.answers(await batch.get("batches/keyed"), calls)
        unkeyed = batch.answers(await batch.get("batches/unkeyed"), calls[:3])
    finally:
        await provider.aclose()
    delivered = [a.response.images[0].data if a.response else None for a in keyed]
    assert delivered == [make_jpeg(1024, 1024, seed=n) for n in range(3)] + [None]
    assert [a.response for a in unkeyed] == [None, None, None]

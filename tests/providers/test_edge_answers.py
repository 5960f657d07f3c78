"""Answers the simulator does not produce, from small stand-in servers speaking the real
wire shapes: rarer Gemini finish reasons and error bodies, malformed 200s, and Flux's
terminal statuses."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate.errors import (
    AuthenticationError,
    ContentBlocked,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
    QuotaExhausted,
    TransportError,
    UpstreamError,
)
from imagegate.providers.flux import FluxProvider
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.testing._images import make_png

from ._support import ask

Serve = Callable[..., str]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """A server answering every request with one chosen status, body and content type."""
    answer: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        body = answer["body"]
        if isinstance(body, dict | list):
            return web.json_response(body, status=answer["status"])
        return web.Response(body=body, status=answer["status"], content_type=answer["type"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app) as server:

        def configure(status: int, body: Any, content_type: str = "application/json") -> str:
            answer.update(status=status, body=body, type=content_type)
            return str(server.make_url("")).rstrip("/")

        yield configure


def _candidate(finish: str, parts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    return {"candidates": [candidate], "usageMetadata": {"promptTokenCount": 5}}


def _google_error(code: int, status: str, details: list[dict[str, Any]]) -> dict[str, Any]:
    return {"error": {"code": code, "message": f"{status} happened", "status": status,
                      "details": details}}  # fmt: skip


_PNG = base64.b64encode(make_png(1024, 1024)).decode()

GEMINI_CASES: list[tuple[int, Any, type[ImageGateError], dict[str, Any]]] = [
    (200, _candidate("IMAGE_PROHIBITED_CONTENT"), ContentBlocked, {"stage": "output"}),
    # No output token counted (the usage has no candidatesTokenCount): not billed.
    (200, _candidate("NO_IMAGE"), NoImageReturned, {"billing": "not_billed"}),
    (200, _candidate("IMAGE_OTHER"), NoImageReturned, {"retryable": True}),
    (200, _candidate("MAX_TOKENS", [{"text": "Let me think"}]), NoImageReturned, {}),
    (200, {"candidates": []}, NoImageReturned, {}),
    (
        200,
        {"promptFeedback": {"blockReason": "JAILBREAK", "blockReasonMessage": "no"}},
        ContentBlocked,
        {"stage": "prompt", "reason": "JAILBREAK"},
    ),
    (
        200,
        _candidate("STOP", [{"inlineData": {"mimeType": "image/png", "data": "aGVsbG8="}}]),
        TransportError,
        {"billing": "billed"},
    ),
    (
        400,
        _google_error(
            400,
            "INVALID_ARGUMENT",
            [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        ),
        AuthenticationError,
        {"retryable": False},
    ),
    (402, _google_error(402, "RESOURCE_EXHAUSTED", []), QuotaExhausted, {"scope": "credits"}),
    (404, _google_error(404, "NOT_FOUND", []), InvalidRequestError, {"field": "model"}),
    (400, _google_error(400, "INVALID_ARGUMENT", []), InvalidRequestError, {"status": 400}),
]


@pytest.mark.parametrize(("status", "body", "error", "attrs"), GEMINI_CASES)
async def test_gemini_rare_answers(
    serve: Serve, status: int, body: Any, error: type[ImageGateError], attrs: dict[str, Any]
) -> None:
    """Finish reasons, block reasons and error bodies the simulator never sends."""
    adapter = GeminiProvider(api_key="edge-key-12345", base_url=serve(status, body))
    try:
        with pytest.raises(error) as info:
            await adapter.generate(ask("edge", "gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    for name, value in attrs.items():
        assert getattr(info.value, name) == value


async def test_gemini_every_image_part_is_kept(serve: Serve) -> None:
    """Several image parts (across candidates) all come back; text parts do not."""
    parts = [{"text": "two"}, {"inlineData": {"mimeType": "image/png", "data": _PNG}}]
    body = _candidate("STOP", [*parts, parts[1]])
    adapter = GeminiProvider(api_key="edge-key-12345", base_url=serve(200, body))
    try:
        response = await adapter.generate(ask("two", "gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    assert len(response.images) == 2
    assert response.metadata["text"] == "two"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"<html>maintenance</html>", "text/html"), (b'{"candidates": [', "application/json")],
)
async def test_gemini_unreadable_200(serve: Serve, body: bytes, content_type: str) -> None:
    """A 200 that is not the JSON answer is a possibly billed TransportError."""
    adapter = GeminiProvider(api_key="edge-key-12345", base_url=serve(200, body, content_type))
    try:
        with pytest.raises(TransportError) as info:
            await adapter.generate(ask("edge", "gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    assert info.value.billing == "possibly_billed"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"<html>maintenance</html>", "text/html"), (b'{"choices": [', "application/json")],
)
async def test_aggregator_unreadable_200(serve: Serve, body: bytes, content_type: str) -> None:
    """The same for the openai-SDK adapters."""
    base = serve(200, body, content_type)
    adapter = OpenAICompatibleProvider(base_url=base, api_key="edge-key-12345")
    try:
        with pytest.raises(TransportError) as info:
            await adapter.generate(ask("edge", "some/model"))
    finally:
        await adapter.aclose()
    assert info.value.billing == "possibly_billed"


async def test_aggregator_error_on_a_choice(serve: Serve) -> None:
    """An error object on a choice (a failure mid-generation) is mapped by its code."""
    body = {"choices": [{"index": 0, "finish_reason": "error",
                         "error": {"code": 502, "message": "upstream died"}}]}  # fmt: skip
    adapter = OpenAICompatibleProvider(base_url=serve(200, body), api_key="edge-key-12345")
    try:
        with pytest.raises(UpstreamError) as info:
            await adapter.generate(ask("edge", "some/model"))
    finally:
        await adapter.aclose()
    assert info.value.status == 502


@pytest.fixture
async def flux_stub() -> AsyncIterator[Callable[[int, dict[str, Any]], str]]:
    """A stand-in BFL API: submits succeed; every poll gets the chosen answer."""
    poll: dict[str, Any] = {}

    async def submit(request: web.Request) -> web.Response:
        polling_url = f"{request.url.origin()}/v1/get_result?id=t"
        return web.json_response({"id": "t", "polling_url": polling_url, "cost": 4.0})

    async def result(request: web.Request) -> web.Response:
        return web.json_response(poll["body"], status=poll["status"])

    app = web.Application()
    app.router.add_post("/v1/{model}", submit)
    app.router.add_get("/v1/get_result", result)
    async with TestServer(app) as server:

        def configure(status: int, body: dict[str, Any]) -> str:
            poll.update(status=status, body=body)
            return str(server.make_url("")).rstrip("/")

        yield configure


@pytest.mark.parametrize(
    ("status", "answer", "error", "stage"),
    [
        (200, {"id": "t", "status": "Task not found"}, UpstreamError, None),
        (404, {"detail": "Not Found"}, UpstreamError, None),
        (200, {"id": "t", "status": "Error", "details": {"e": "x"}}, UpstreamError, None),
        (200, {"id": "t", "status": "Request Moderated"}, ContentBlocked, "prompt"),
        (200, {"id": "t", "status": "Surprise"}, UpstreamError, None),
        (500, {"detail": "Internal Server Error"}, UpstreamError, None),
    ],
)
async def test_flux_terminal_statuses(
    flux_stub: Callable[[int, dict[str, Any]], str],
    status: int,
    answer: dict[str, Any],
    error: type[ImageGateError],
    stage: str | None,
) -> None:
    """Every terminal poll answer ends the task as possibly billed (it was accepted)."""
    adapter = FluxProvider(api_key="edge-key-12345", base_url=flux_stub(status, answer))
    try:
        with pytest.raises(error) as info:
            await adapter.generate(ask("edge", "flux-pro-1.1"))
    finally:
        await adapter.aclose()
    assert isinstance(info.value, ContentBlocked | UpstreamError)
    assert info.value.billing == "possibly_billed"
    if stage is not None:
        assert isinstance(info.value, ContentBlocked)
        assert info.value.stage == stage

"""Answers in the shapes the real services send, replayed by a small server on 127.0.0.1:
OpenAI's 429 wording, Gemini's finish reasons forwarded by an aggregator, whether an
answer without an image is billed, and BFL's 202 while a task is pending. Each case names
the public record it comes from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from google.genai import types

from imagegate.errors import ContentBlocked, NoImageReturned, RateLimited
from imagegate.providers._google_reasons import REASONS, verdict
from imagegate.providers.flux import FluxProvider
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.openai import OpenAIProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.providers.vertex import VertexProvider
from imagegate.testing._images import make_png

from ._support import ask

Replay = Callable[[int, Any], str]

KEY = "replay-key-12345"


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    """A server answering every request with one recorded status and JSON body."""
    answer: dict[str, Any] = {}

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response(answer["body"], status=answer["status"])

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    async with TestServer(app, host="127.0.0.1") as server:

        def configure(status: int, body: Any) -> str:
            answer.update(status=status, body=body)
            return str(server.make_url("")).rstrip("/")

        yield configure


# -- OpenAI's 429 wording ------------------------------------------------------------

# The message of a gpt-image-1 429 as a user recorded it (receptron/mulmocast-cli issue
# #477, "RateLimitError: 429 You've exceeded the rate limit, please slow down and try again
# after 51.84 seconds."), in OpenAI's error envelope (code rate_limit_exceeded).
GPT_IMAGE_429 = {
    "error": {
        "message": "You've exceeded the rate limit, please slow down and try again after "
        "51.84 seconds.",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}


@pytest.mark.parametrize("provider", ["openai", "openai_compatible"])
async def test_gpt_image_429_hint_in_seconds_is_kept(replay: Replay, provider: str) -> None:
    """ "try again after 51.84 seconds" (no retry-after header) is a 51.84 s hint."""
    base_url = replay(429, GPT_IMAGE_429)
    if provider == "openai":
        adapter: OpenAIProvider = OpenAIProvider(api_key=KEY, base_url=base_url)
        model = "gpt-image-1"
    else:
        adapter = OpenAICompatibleProvider(api_key=KEY, base_url=base_url, mode="images")
        model = "openai/gpt-image-1"
    try:
        with pytest.raises(RateLimited) as info:
            await adapter.generate(ask("a lighthouse", model))
    finally:
        await adapter.aclose()
    assert info.value.retry_after_s == 51.84


# -- Gemini's finish reasons through an aggregator ---------------------------------


def _aggregator_answer(native: str, **usage: int) -> dict[str, Any]:
    """An OpenRouter chat completion without an image: its own ``finish_reason`` says
    "stop" while ``native_finish_reason`` carries Gemini's (OpenRouter API reference,
    openrouter.ai/docs/api-reference/overview, NonStreamingChoice; "finish_reason came
    back as 'stop', but native_finish_reason vastly different": reVrost/go-openrouter
    pull request #43)."""
    return {
        "id": "gen-1733000000-replay",
        "provider": "Google",
        "model": "google/gemini-3-pro-image",
        "object": "chat.completion",
        "created": 1733000000,
        "choices": [
            {
                "index": 0,
                "logprobs": None,
                "finish_reason": "stop",
                "native_finish_reason": native,
                "message": {"role": "assistant", "content": None, "refusal": None},
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 0, "total_tokens": 9, **usage},
    }


BLOCKS = [
    "IMAGE_RECITATION", "RECITATION", "BLOCKLIST", "SPII", "PROHIBITED_CONTENT",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "SAFETY", "MODEL_ARMOR",
]  # fmt: skip


@pytest.mark.parametrize("native", BLOCKS)
async def test_aggregator_forwarded_block_is_content_blocked(replay: Replay, native: str) -> None:
    """A Gemini block behind finish_reason "stop" is ContentBlocked, not retried."""
    base_url = replay(200, _aggregator_answer(native))
    adapter = OpenAICompatibleProvider(api_key=KEY, base_url=base_url)
    try:
        with pytest.raises(ContentBlocked) as info:
            await adapter.generate(ask("a lighthouse", "google/gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    error = info.value
    assert (error.reason, error.stage, error.retryable) == (native, "output", False)
    assert error.billing == "not_billed"  # no output tokens counted


@pytest.mark.parametrize(
    ("native", "retryable"), [("NO_IMAGE", True), ("IMAGE_OTHER", True), ("LANGUAGE", False)]
)
async def test_aggregator_forwarded_no_image(replay: Replay, native: str, retryable: bool) -> None:
    """NO_IMAGE and IMAGE_OTHER may be retried; LANGUAGE will meet the same answer."""
    base_url = replay(200, _aggregator_answer(native, completion_tokens=14))
    adapter = OpenAICompatibleProvider(api_key=KEY, base_url=base_url)
    try:
        with pytest.raises(NoImageReturned) as info:
            await adapter.generate(ask("a lighthouse", "google/gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    assert info.value.retryable is retryable
    assert info.value.billing == "billed"  # 14 output tokens counted


def test_every_google_reason_is_in_the_table() -> None:
    """Each FinishReason and BlockedReason of the installed google-genai has a verdict,
    so a reason added to the SDK is noticed here rather than guessed at run time."""
    names = {r.value for r in types.FinishReason} | {r.value for r in types.BlockedReason}
    assert names <= set(REASONS)
    assert verdict("IMAGE_RECITATION") == "blocked"
    assert verdict("image_safety") == "blocked"
    assert verdict("SOMETHING_NEW") == "no_image"


# -- Whether a Gemini answer without an image is billed ----------------------------


def _gemini_answer(finish: str, message: str | None, usage: dict[str, int]) -> dict[str, Any]:
    candidate: dict[str, Any] = {"finishReason": finish, "index": 0}
    if message is not None:
        candidate["finishMessage"] = message
    return {"candidates": [candidate], "usageMetadata": usage, "modelVersion": "gemini-3-pro-image"}


# The finishMessage Google sends with IMAGE_OTHER; "when the finishMessage explicitly
# includes the phrase 'You will not be charged for this request', Google officially waives
# the fee" (help.apiyi.com/en?p=26689, on Gemini 3.x image answers).
NOT_CHARGED = (
    "Unable to show the generated image. The model could not generate the image based on "
    "the prompt provided. You will not be charged for this request."
)

# IMAGE_SAFETY with the usage a recorded Nano Banana Pro answer carried: promptTokenCount
# 276, thoughtsTokenCount 173, totalTokenCount 449, no candidatesTokenCount (field-by-field
# breakdown at help.apiyi.com/en/nano-banana-pro-image-safety-error-analysis-fix-guide-en.html).
SAFETY_USAGE = {"promptTokenCount": 276, "thoughtsTokenCount": 173, "totalTokenCount": 449}
TEXT_USAGE = {"promptTokenCount": 12, "candidatesTokenCount": 30, "totalTokenCount": 42}


@pytest.mark.parametrize(
    ("finish", "message", "usage", "error", "billing"),
    [
        ("IMAGE_SAFETY", None, SAFETY_USAGE, ContentBlocked, "not_billed"),
        (
            "IMAGE_SAFETY",
            None,
            {**SAFETY_USAGE, "candidatesTokenCount": 1120, "totalTokenCount": 1569},
            ContentBlocked,
            "billed",
        ),
        ("IMAGE_OTHER", NOT_CHARGED, TEXT_USAGE, NoImageReturned, "not_billed"),
        ("NO_IMAGE", None, TEXT_USAGE, NoImageReturned, "billed"),
        ("NO_IMAGE", None, {"promptTokenCount": 12}, NoImageReturned, "not_billed"),
    ],
)
async def test_gemini_billing_follows_usage(
    replay: Replay,
    finish: str,
    message: str | None,
    usage: dict[str, int],
    error: type[Exception],
    billing: str,
) -> None:
    """Output tokens counted are billed; none counted, or Google's "You will not be
    charged", is not billed. (On AI Studio google-genai drops ``finishMessage`` from the
    answer, so only Vertex AI can read the waiver.)"""
    base_url = replay(200, _gemini_answer(finish, message, usage))
    adapters = [VertexProvider(api_key=KEY, base_url=base_url)]
    if message is None:
        adapters.append(GeminiProvider(api_key=KEY, base_url=base_url))
    for adapter in adapters:
        try:
            with pytest.raises(error) as info:
                await adapter.generate(ask("a lighthouse", "gemini-3-pro-image"))
        finally:
            await adapter.aclose()
        assert isinstance(info.value, ContentBlocked | NoImageReturned)
        assert info.value.billing == billing, adapter


# -- Black Forest Labs: a 202 while the task is pending ----------------------------


@pytest.fixture
async def bfl_accepting() -> AsyncIterator[tuple[str, list[int]]]:
    """A stand-in BFL API whose polls answer 202 twice (once with the ResultResponse body
    of bfl-openapi.json v0.0.1, status "Pending"; once with no body), then 200 Ready with
    a sample on the same host. BFL's own client reads the status whatever the HTTP code
    (black-forest-labs/flux, src/flux/api.py, ImageRequest.retrieve)."""
    polls: list[int] = []

    async def submit(request: web.Request) -> web.Response:
        await request.read()
        url = f"{request.url.origin()}/v1/get_result?id=t-202"
        return web.json_response({"id": "t-202", "polling_url": url, "cost": 4.0})

    async def result(request: web.Request) -> web.Response:
        polls.append(len(polls))
        pending = {"id": "t-202", "status": "Pending", "result": None, "progress": 0.4,
                   "details": None, "preview": None}  # fmt: skip
        if len(polls) == 1:
            return web.json_response(pending, status=202)
        if len(polls) == 2:
            return web.Response(status=202)
        sample = f"{request.url.origin()}/sample.png"
        ready = {**pending, "status": "Ready", "progress": 1.0, "result": {"sample": sample}}
        return web.json_response(ready)

    async def sample(request: web.Request) -> web.Response:
        return web.Response(body=make_png(1024, 1024), content_type="image/png")

    app = web.Application()
    app.router.add_post("/v1/{model}", submit)
    app.router.add_get("/v1/get_result", result)
    app.router.add_get("/sample.png", sample)
    async with TestServer(app, host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/"), polls


async def test_flux_202_while_pending_keeps_polling(
    bfl_accepting: tuple[str, list[int]],
) -> None:
    """A 202 poll (with or without a body) is a pending task, not an UpstreamError."""
    base_url, polls = bfl_accepting
    adapter = FluxProvider(api_key=KEY, base_url=base_url, poll_initial_s=0.001, poll_max_s=0.002)
    try:
        response = await adapter.generate(ask("a lighthouse", "flux-pro-1.1"))
    finally:
        await adapter.aclose()
    assert len(polls) == 3
    assert response.images[0].size == "1K"
    assert response.cost_usd == 0.04

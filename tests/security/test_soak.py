"""A soak through `Router.generate_many` against five hostile upstreams at once.

Every route's server (127.0.0.1, each provider's wire format) answers each call with a
kind drawn from a seeded mix: an image, 503/429 with absurd ``Retry-After`` values, 200
without an image, a truncated image, a gzip bomb and an endless-looking body past the
answer cap, an error that echoes the request's headers (the key), a redirect to a path
that records what reaches it, random bytes, a duplicate ``Content-Length`` (an error no
adapter maps), poisoned costs and metadata, slow answers. A plugin route raises with its
key in the message and in its locals now and then.

What must hold, whatever the mix:

- every input yields exactly one answer (a result or an imagegate error), none twice;
- the peak RSS after warm-up (the first fifth of the requests) grows by at most 10%;
- no key in any captured log line (structlog's console renderer with rich tracebacks and
  its JSON renderer with dict tracebacks, at the default level and at debug), in any
  error, or at the redirect target;
- the budget stays finite and on.

``IMAGEGATE_SOAK_REQUESTS`` sets the requests per logging set-up (default 400; the
figures in docs/security.md come from 10,000). Time is real, but every wait in it is
short: backoffs and ``Retry-After`` are capped at 50 ms, and each request has 5 s.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import resource
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate import (
    Capabilities,
    GeneratedImage,
    ProviderRequest,
    ProviderResponse,
    Route,
    Router,
)
from imagegate.errors import ImageGateError
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing._images import make_png

from ._hostile import MODEL, MiB, build, flux_routes, gzip_bomb, image_answer, png_b64
from ._leaky import KEYS, duplicate_content_length
from ._logs import RENDERERS, set_level
from ._reach import paths_to

REQUESTS = int(os.environ.get("IMAGEGATE_SOAK_REQUESTS", "400"))
SEED = int(os.environ.get("IMAGEGATE_SOAK_SEED", "0"))
CAP = 1 * MiB
"""Every route's answer cap (``max_response_bytes``): bombs and floods stop here."""

ALL_KEYS = {**KEYS, "vertex": "AQ.Ab8RN6HostileVertexExpressKey0123456789abcdef"}
PLUGIN_KEY = "sk-proj-SoakPlugin0123456789abcdefghijklmnopqrs"
SECRETS = (*ALL_KEYS.values(), PLUGIN_KEY)

KINDS: dict[str, int] = {
    "image": 40,
    "overloaded": 8,
    "rate_limited": 6,
    "no_image": 5,
    "truncated": 5,
    "bomb": 3,
    "flood": 2,
    "echo_key": 5,
    "redirect": 4,
    "garbage": 4,
    "duplicate_length": 3,
    "poisoned": 8,
    "slow": 2,
}
"""Weights of the answer kinds."""


class Upstream:
    """One provider's hostile server: what it answered and who reached ``/leak``."""

    def __init__(self, provider: str, seed: int) -> None:
        self.provider = provider
        self.random = random.Random(f"{seed}-{provider}")
        self.base = ""
        self.answered: Counter[str] = Counter()
        self.leaked: list[dict[str, str]] = []

    def app(self) -> web.Application:
        """The API path answers by kind; ``/leak`` records; Flux polls are honest."""
        app = web.Application()
        app.router.add_route("*", "/leak", self.leak)
        if self.provider == "flux":
            flux_routes(app, lambda: self.base)
        app.router.add_route("*", "/{tail:.*}", self.answer)
        return app

    async def leak(self, request: web.Request) -> web.Response:
        """Where redirects point: nothing with a key may arrive."""
        self.leaked.append(dict(request.headers))
        return web.Response(status=404)

    async def answer(self, request: web.Request) -> web.StreamResponse:
        """An answer of a kind drawn by weight."""
        await request.read()
        kind = self.random.choices(list(KINDS), weights=list(KINDS.values()))[0]
        self.answered[kind] += 1
        if kind == "duplicate_length":
            return await duplicate_content_length(request)
        if kind == "slow":
            await asyncio.sleep(self.random.uniform(0.05, 0.3))
            kind = "image"
        return self._answer(kind, request)

    def _answer(self, kind: str, request: web.Request) -> web.Response:
        prefix, suffix = image_answer(self.provider, self.base)
        json_type = "application/json"
        if kind == "image":
            return web.Response(body=prefix + png_b64() + suffix, content_type=json_type)
        if kind in ("overloaded", "rate_limited"):
            status = 503 if kind == "overloaded" else 429
            after = self.random.choice(["99999999", "-5", "nan", "1e308", "soon", "0.01"])
            body = {"error": {"code": status, "message": "try later", "status": "UNAVAILABLE"}}
            return web.json_response(body, status=status, headers={"Retry-After": after})
        if kind == "no_image":
            return web.json_response(self._no_image())
        if kind == "truncated":
            return web.Response(body=prefix + png_b64()[:4000] + suffix, content_type=json_type)
        if kind == "bomb":
            body = gzip_bomb(prefix, suffix, inflated=2 * CAP)
            headers = {"Content-Encoding": "gzip", "Content-Type": json_type}
            return web.Response(body=body, headers=headers)
        if kind == "flood":
            return web.Response(body=prefix + b"A" * (CAP + MiB) + suffix, content_type=json_type)
        if kind == "echo_key":
            said = f"Invalid credentials in {dict(request.headers)} for {request.url}"
            return web.json_response({"error": {"code": 401, "message": said}}, status=401)
        if kind == "redirect":
            status = self.random.choice([301, 302, 307, 308])
            return web.Response(status=status, headers={"Location": f"{self.base}/leak"})
        if kind == "garbage":
            noise = self.random.randbytes(self.random.randint(0, 2048))
            return web.Response(body=noise, content_type=json_type)
        return web.Response(body=self._poisoned(request), content_type=json_type)

    def _no_image(self) -> dict[str, Any]:
        if self.provider in ("gemini", "vertex"):
            parts = [{"text": "I cannot draw that."}]
            return {"candidates": [{"finishReason": "STOP", "content": {"parts": parts}}]}
        if self.provider == "openai":
            return {"created": 1, "data": []}
        if self.provider == "openai_compatible":
            return {"choices": [{"finish_reason": "stop", "message": {"content": "no"}}]}
        return {"id": "t1"}  # a Flux submit without a polling URL

    def _poisoned(self, request: web.Request) -> bytes:
        """An image whose answer reports an absurd cost and carries hostile extras."""
        cost = self.random.choice([1e308, -5.0, math.nan, math.inf, 10**400, 99.0])
        echo = f"seen {dict(request.headers)}" + "x" * 100_000
        png = png_b64().decode()
        if self.provider in ("gemini", "vertex"):
            part = {"inlineData": {"mimeType": "image/png", "data": png}}
            candidate = {"finishReason": "STOP", "content": {"parts": [part]}}
            body: dict[str, Any] = {"candidates": [candidate], "responseId": echo}
            body["usageMetadata"] = {"candidatesTokenCount": cost, "promptTokenCount": echo}
        elif self.provider == "openai":
            body = {"created": 1, "data": [{"b64_json": png, "revised_prompt": echo}]}
            body["usage"] = {"output_tokens": cost, "input_tokens": -1}
        elif self.provider == "openai_compatible":
            image = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}}
            message = {"content": echo, "images": [image]}
            body = {"id": echo, "choices": [{"finish_reason": "stop", "message": message}]}
            body["usage"] = {"cost": cost}
        else:
            body = {"id": echo, "cost": cost, "polling_url": f"{self.base}/v1/get_result?id=t1"}
        text = json.dumps(body, allow_nan=True)
        return text.replace("1e+400", "1" + "0" * 400).encode()


class LeakyPlugin:
    """A plugin that fails now and then with its key in the message and in its locals."""

    name = "leaky_soak"

    def __init__(self, api_key: str, seed: int) -> None:
        self._api_key = api_key
        self._random = random.Random(seed)

    def capabilities(self, model: str) -> Capabilities:
        """Every tier, one image."""
        return Capabilities(price_usd={"1K": 0.01, "2K": 0.02, "4K": 0.04})

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """An image, or a RuntimeError that quotes the key."""
        headers = {"authorization": f"Bearer {self._api_key}"}
        if self._random.random() < 0.5:
            raise RuntimeError(f"upstream refused {headers}")
        return ProviderResponse(images=(_image(),), cost_usd=0.01)

    async def aclose(self) -> None:
        """Nothing to close."""


def _image() -> GeneratedImage:
    return GeneratedImage(make_png(1024, 1024))


@asynccontextmanager
async def hostile_routes(seed: int) -> AsyncIterator[tuple[list[Route], list[Upstream]]]:
    """A route per built-in provider on its hostile server, and the leaky plugin."""
    upstreams = [Upstream(p, seed) for p in MODEL]
    async with AsyncExitStack() as stack:
        routes = []
        for up in upstreams:
            server = TestServer(up.app(), host="127.0.0.1")
            await server.start_server()
            stack.push_async_callback(server.close)
            up.base = str(server.make_url("")).rstrip("/")
            key = ALL_KEYS[up.provider]
            adapter = build(up.provider, up.base, key=key, max_response_bytes=CAP)
            stack.push_async_callback(adapter.aclose)  # the router closes what it built only
            routes.append(Route(adapter, model=MODEL[up.provider]))
        routes.append(Route(LeakyPlugin(PLUGIN_KEY, seed), model="m"))
        yield routes, upstreams


def _rss_kib() -> int:
    """The resident set now (Linux), or the peak so far elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * resource.getpagesize() // 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


async def soak(requests: int, seed: int) -> dict[str, Any]:
    """Run the soak; returns what was measured (see the module docstring)."""
    retry = RetryPolicy(
        attempts=3, wait_initial_s=0.005, wait_max_s=0.05, min_attempt_s=0.01,
        failover_after_s=0.05, max_retry_after_s=0.05,
    )  # fmt: skip
    seen: Counter[int] = Counter()
    outcomes: Counter[str] = Counter()
    leaks: list[str] = []
    samples: list[int] = []
    async with hostile_routes(seed) as (routes, upstreams):
        router = Router(routes, retry=retry, attempt_timeout_s=2.0, budget_usd=1e6, seed=seed)
        prompts = (
            {"prompt": f"a lighthouse {i}", "size": "1K", "deadline_s": 5.0}
            for i in range(requests)
        )
        async with router:
            async for answer in router.generate_many(prompts, concurrency=32):
                seen[answer.index] += 1
                assert (answer.result is None) != (answer.error is None)
                if answer.error is not None:
                    assert isinstance(answer.error, ImageGateError)
                    outcomes[type(answer.error).__name__] += 1
                    if answer.index % 10 == 0:
                        leaks += [p for key in SECRETS for p in paths_to(key, answer.error)]
                else:
                    outcomes["image"] += 1
                    leaks += [p for key in SECRETS for p in paths_to(key, answer.result)]
                if sum(seen.values()) % max(1, requests // 100) == 0:
                    samples.append(_rss_kib())
            spend = router.spend()
    return {
        "seen": seen,
        "outcomes": outcomes,
        "leaks": leaks,
        "peak_after_warm_up_kib": max(samples[: len(samples) // 5 or 1]),
        "peak_at_end_kib": max(samples),
        "rss_curve_mib": [k // 1024 for k in samples[9::10]],
        "spend_usd": spend.total_usd,
        "answered": sum((up.answered for up in upstreams), Counter()),
        "redirected_with_key": [
            h for up in upstreams for h in up.leaked for key in SECRETS if key in str(h)
        ],
    }


SETUPS = [
    ("warning", "structlog_console_rich"),
    ("debug", "structlog_console_rich"),
    ("warning", "structlog_json_dict_tracebacks"),
    ("debug", "structlog_json_dict_tracebacks"),
]


@pytest.mark.parametrize(("level", "renderer"), SETUPS)
async def test_soak_loses_nothing_leaks_nothing_grows_not(
    level: str,
    renderer: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    """See the module docstring."""
    set_level(level)
    path = tmp_path / "soak.log"
    with path.open("w", encoding="utf-8") as out:  # on disk: the log's size is not the RSS's
        RENDERERS[renderer](out)  # type: ignore[arg-type]
        figures = await soak(REQUESTS, SEED)
    log = path.read_text(encoding="utf-8")

    growth = figures["peak_at_end_kib"] / figures["peak_after_warm_up_kib"]
    before, after = figures["peak_after_warm_up_kib"] // 1024, figures["peak_at_end_kib"] // 1024
    with capsys.disabled():
        print(
            f"\nsoak {level}/{renderer}: {REQUESTS} requests, seed {SEED}: "
            f"{dict(figures['outcomes'])}; peak RSS {before} MiB after warm-up, {after} MiB "
            f"at the end ({growth - 1:+.1%}); log {len(log) // 1024} KiB; "
            f"spend ${figures['spend_usd']:.2f}; RSS every tenth {figures['rss_curve_mib']} MiB; "
            f"answers {dict(figures['answered'])}"
        )

    seen: Counter[int] = figures["seen"]
    assert sorted(seen) == list(range(REQUESTS)), "an input got no answer"
    assert set(seen.values()) == {1}, "an input got two answers"
    assert growth <= 1.10, f"peak RSS grew by {growth - 1:.1%} after warm-up"
    assert figures["leaks"] == []
    assert figures["redirected_with_key"] == []
    for key in SECRETS:
        assert key not in log
    assert "attempt.adapter_bug" in log  # tracebacks were rendered (the plugin's RuntimeError)
    if level == "debug":
        assert "attempt.start" in log
    assert math.isfinite(figures["spend_usd"])
    assert 0 < figures["spend_usd"] <= 100 * 3 * REQUESTS
    assert figures["outcomes"]["image"] > 0

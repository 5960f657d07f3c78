"""Every adapter maps whatever an upstream answers to an image or an imagegate error.

Hypothesis builds the answers: each wire format's real success answer with its fields
deleted, renamed or replaced by any JSON value (strings that echo the key, hostile URLs,
huge and non-finite numbers); truncated or random bytes; error bodies; redirects; any
status; ``Content-Type``, ``Retry-After`` and ``Content-Encoding`` (honest, lying or
garbage) as a broken or hostile upstream might send them. A server on 127.0.0.1 answers
each request with the example's answer, at one stage of the adapter's calls (Flux: the
submit, a poll or the sample download; the other stages answer honestly).

For every example the adapter either returns images that are complete (`GeneratedImage`
checks them when built) or raises an `ImageGateError`; it never raises anything else,
never hangs, and the key is reachable from neither (`paths_to` walks the error's causes,
context, arguments and attributes), nor sent to any URL an answer names.

``IMAGEGATE_FUZZ_EXAMPLES`` sets the examples per adapter (default 120).
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagegate._integrity import incompleteness
from imagegate._provider import Provider, ProviderResponse
from imagegate.errors import ImageGateError
from imagegate.resilience.clock import ScaledClock
from imagegate.testing._images import make_png

from ._hostile import KEY, KEY_HEADERS, MODEL, ask, build, png_b64
from ._reach import paths_to

PROVIDERS = ("gemini", "vertex", "openai", "openai_compatible", "flux")
EXAMPLES = int(os.environ.get("IMAGEGATE_FUZZ_EXAMPLES", "120"))
HANG_S = 10.0
"""Real seconds an adapter may take on one answer (every answer here is immediate)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: status, headers and the body as sent (already encoded)."""

    status: int
    headers: dict[str, str]
    body: bytes
    stage: str = "api"

    def __repr__(self) -> str:  # hypothesis prints this when an example fails
        return f"Answer({self.stage}, {self.status}, {self.headers}, {self.body[:300]!r})"


@dataclass(slots=True)
class Upstream:
    """The server's state: the answer for this example and who called ``/leak``."""

    base: str = ""
    answer: Answer | None = None
    leak_headers: list[dict[str, str]] = field(default_factory=list)


# ---------------------------------------------------------------- the answers' ingredients

_HOSTILE_URLS = (
    "/leak",
    "{base}/leak",
    "{base}/leak?key={key}",
    "http://127.0.0.1:9/leak",
    "http://10.0.0.1/leak",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]:9/leak",
    "https://user:{key}@127.0.0.1:9/leak",
    "file:///etc/passwd",
    "ftp://127.0.0.1/leak",
    "data:image/png;base64,AAAA",
    "data:image/png;base64,{png}",
    "javascript:alert(1)",
    "",
)
"""URLs an answer may name: loopback (this server's own ``/leak``), private and
link-local addresses, other schemes. None resolves a name, so nothing leaves the host."""

_TEXTS = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            f"Incorrect API key provided: {KEY}",
            f"Bearer {KEY}",
            KEY,
            "\ud800",
            "\x00" * 8,
            "=" * 13,
            "not base64 !!",
            "image/png",
            "Ready",
            "Pending",
            "Error",
            "Content Moderated",
            "STOP",
            "SAFETY",
            "IMAGE_SAFETY",
            "RESOURCE_EXHAUSTED",
            "UNAVAILABLE",
            "rate_limit_exceeded",
            "insufficient_quota",
            "Please try again in 7s.",
            "Please retry in 61.5s.",
        ]
    ),
    st.sampled_from(_HOSTILE_URLS),
)
_NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 1e308, 10**40, 4096 * 4096 * 64]),
)
_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | _NUMBERS | _TEXTS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXTS, inner, max_size=3),
    max_leaves=8,
)


def _good_png() -> str:
    return png_b64().decode()


def real_answer(provider: str, stage: str) -> Any:
    """The success answer of ``provider`` at ``stage``, as each API documents it."""
    png = _good_png()
    if provider in ("gemini", "vertex"):
        return {
            "candidates": [
                {
                    "finishReason": "STOP",
                    "index": 0,
                    "content": {
                        "role": "model",
                        "parts": [{"inlineData": {"mimeType": "image/png", "data": png}}],
                    },
                }
            ],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 1120},
            "modelVersion": MODEL[provider],
        }
    if provider == "openai":
        return {
            "created": 1,
            "data": [{"b64_json": png}],
            "usage": {"input_tokens": 9, "output_tokens": 4160, "total_tokens": 4169},
        }
    if provider == "openai_compatible":
        url = f"data:image/png;base64,{png}"
        message = {
            "role": "assistant",
            "content": "",
            "images": [{"type": "image_url", "image_url": {"url": url}}],
        }
        return {
            "id": "gen-1",
            "choices": [{"finish_reason": "stop", "index": 0, "message": message}],
            "usage": {"prompt_tokens": 9, "completion_tokens": 1290, "cost": 0.06},
        }
    if stage == "submit":
        return {"id": "t1", "polling_url": "{base}/v1/get_result?id=t1", "cost": 6}
    return {"id": "t1", "status": "Ready", "result": {"sample": "{base}/sample.png"}}


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """``value`` with one node replaced, deleted or renamed (walking down from the root)."""
    if not isinstance(value, dict | list) or not value or depth > 6 or draw(st.integers(0, 4)) == 0:
        return draw(_JSON)
    if isinstance(value, list):
        i = draw(st.integers(0, len(value) - 1))
        op = draw(st.sampled_from(["descend", "descend", "delete", "duplicate"]))
        if op == "delete":
            return value[:i] + value[i + 1 :]
        if op == "duplicate":
            return [*value, value[i]] * draw(st.integers(1, 3))
        return [*value[:i], draw(mutated(value[i], depth + 1)), *value[i + 1 :]]
    key = draw(st.sampled_from(sorted(value)))
    op = draw(st.sampled_from(["descend", "descend", "delete", "rename"]))
    rest = {k: v for k, v in value.items() if k != key}
    if op == "delete":
        return rest
    if op == "rename":
        return {**rest, draw(_TEXTS): value[key]}
    return {**rest, key: draw(mutated(value[key], depth + 1))}


def _fill(text: str, base: str) -> str:
    return text.replace("{base}", base).replace("{key}", KEY).replace("{png}", _good_png())


def _dumps(value: Any, base: str) -> bytes:
    text = json.dumps(value, allow_nan=True, ensure_ascii=False)
    return _fill(text, base).encode("utf-8", "surrogatepass")


Body = bytes | Callable[[str], bytes]
"""A body, or a function of the server's base URL giving it."""


def _sample_bodies(draw: st.DrawFn, kind: str) -> Body:
    """The Flux sample download: a PNG, cut short, noise, JSON or nothing."""
    png = make_png(1024, 1024)
    if kind == "png":
        return png
    if kind == "truncated":
        return png[: draw(st.integers(0, len(png) - 1))]
    if kind == "bytes":
        return draw(st.binary(max_size=2048))
    if kind == "json":
        return json.dumps(draw(_JSON)).encode()
    return b""


def _mutated_answer(draw: st.DrawFn, real: Any) -> Body:
    value = real
    for _ in range(draw(st.integers(1, 3))):
        value = draw(mutated(value))
    return lambda base: _dumps(value, base)


def _truncated_answer(draw: st.DrawFn, real: Any) -> Body:
    cut = draw(st.floats(0.0, 1.0))
    return lambda base: (whole := _dumps(real, base))[: int(len(whole) * cut)]


def _error_answer(draw: st.DrawFn, real: Any) -> Body:
    error = {"message": draw(_TEXTS), "code": draw(_JSON), "status": draw(_TEXTS)}
    if draw(st.booleans()):
        error["details"] = draw(_JSON)
    return lambda base: _dumps({"error": error}, base)


def _any_json(draw: st.DrawFn, real: Any) -> Body:
    anything = draw(_JSON)
    return lambda base: _dumps(anything, base)


_API_BODIES: dict[str, Callable[[st.DrawFn, Any], Body]] = {
    "real": lambda draw, real: lambda base: _dumps(real, base),
    "mutated": _mutated_answer,
    "truncated": _truncated_answer,
    "bytes": lambda draw, real: draw(st.binary(max_size=512)),
    "error": _error_answer,
    "json": _any_json,
    "empty": lambda draw, real: b"",
}
_API_WEIGHTS = [
    "real",
    "mutated",
    "mutated",
    "mutated",
    "truncated",
    "bytes",
    "error",
    "json",
    "empty",
]


@st.composite
def bodies(draw: st.DrawFn, provider: str, stage: str) -> tuple[Body, str]:
    """A body of ``provider``'s answer at ``stage``, and its kind."""
    if stage == "sample":
        kind = draw(st.sampled_from(["png", "truncated", "bytes", "json", "empty"]))
        return _sample_bodies(draw, kind), kind
    kind = draw(st.sampled_from(_API_WEIGHTS))
    return _API_BODIES[kind](draw, real_answer(provider, stage)), kind


_STATUSES = st.one_of(
    st.just(200),
    st.sampled_from(
        [201, 202, 400, 401, 402, 403, 404, 408, 409, 413, 422, 429, 451, 500, 502, 503, 504, 529]
    ),
    st.sampled_from([301, 302, 303, 307, 308]),
    st.integers(200, 599).filter(lambda s: s not in (204, 205, 304)),
)
_RETRY_AFTER = st.one_of(
    st.integers(-10, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT", "soon", ""]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=20),
)
_CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=utf-16",
        "text/html",
        "text/plain",
        "image/png",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
    ]
)
_ENCODINGS = st.sampled_from(
    ["identity", "identity", "gzip", "deflate", "lying-gzip", "garbage-br"]
)


@st.composite
def answers(draw: st.DrawFn, provider: str) -> tuple[Answer, Callable[[str], Answer]]:
    """An answer for one stage of ``provider``'s calls; the second item fills in the base URL."""
    stage = draw(st.sampled_from(["submit", "poll", "sample"])) if provider == "flux" else "api"
    body, kind = draw(bodies(provider, stage))
    status = 200 if kind in ("real", "png") and draw(st.booleans()) else draw(_STATUSES)
    headers: dict[str, str] = {}
    if draw(st.integers(0, 3)):
        headers["Content-Type"] = "image/png" if stage == "sample" else "application/json"
    else:
        headers["Content-Type"] = draw(_CONTENT_TYPES)
    if draw(st.booleans()):
        headers["Retry-After"] = draw(_RETRY_AFTER)
    if 300 <= status < 400 and draw(st.integers(0, 3)):
        headers["Location"] = draw(st.sampled_from(_HOSTILE_URLS))
    encoding = draw(_ENCODINGS)

    def filled(base: str) -> Answer:
        raw = body(base) if callable(body) else body
        out = dict(headers)
        if "Location" in out:
            out["Location"] = _fill(out["Location"], base)
        if encoding == "gzip":
            raw, out["Content-Encoding"] = gzip.compress(raw), "gzip"
        elif encoding == "deflate":
            raw, out["Content-Encoding"] = zlib.compress(raw), "deflate"
        elif encoding == "lying-gzip":
            out["Content-Encoding"] = "gzip"
        elif encoding == "garbage-br":
            raw, out["Content-Encoding"] = b"\x8b\x00garbage" + raw[:64], "br"
        return Answer(status, out, raw, stage)

    return filled(""), filled


# ---------------------------------------------------------------------------- the server


def _app(up: Upstream, provider: str) -> web.Application:
    """Answers the example's answer at its stage, honest answers at the others."""

    def honest(stage: str) -> web.Response:
        if stage == "sample":
            return web.Response(body=make_png(1024, 1024), content_type="image/png")
        body = _dumps(real_answer(provider, stage), up.base)
        return web.Response(body=body, content_type="application/json")

    def answer(stage: str) -> web.Response:
        chosen = up.answer
        if chosen is None or chosen.stage not in (stage, "api"):
            return honest(stage)
        return web.Response(status=chosen.status, headers=chosen.headers, body=chosen.body)

    async def leak(request: web.Request) -> web.Response:
        up.leak_headers.append(dict(request.headers))
        return web.Response(body=make_png(1024, 1024), content_type="image/png")

    async def api(request: web.Request) -> web.Response:
        await request.read()
        return answer("submit" if provider == "flux" else "api")

    async def poll(request: web.Request) -> web.Response:
        return answer("poll")

    async def sample(request: web.Request) -> web.Response:
        return answer("sample")

    app = web.Application()
    app.router.add_route("*", "/leak", leak)
    app.router.add_get("/v1/get_result", poll)
    app.router.add_get("/sample.png", sample)
    app.router.add_route("*", "/{tail:.*}", api)
    return app


def _check(
    provider: str, answer: Answer, outcome: ProviderResponse | BaseException, up: Upstream
) -> None:
    where = f"{provider} on {answer!r}"
    leaked = [h for h in up.leak_headers for name in KEY_HEADERS if KEY in h.get(name, "")]
    assert leaked == [], f"the key was sent to a URL the answer named: {where}"
    up.leak_headers.clear()
    if isinstance(outcome, BaseException):
        shown = "".join(traceback.format_exception(outcome))
        assert isinstance(outcome, ImageGateError), f"{where} raised\n{shown}"
        assert KEY not in shown, f"{where}: the key is in the error\n{shown}"
        assert paths_to(KEY, outcome) == [], where
        return
    assert outcome.images, f"{where}: an answer without an image and without an error"
    for image in outcome.images:
        assert incompleteness(image.data, image.mime_type) is None, where
    assert paths_to(KEY, outcome) == [], where


@pytest.mark.parametrize("provider", PROVIDERS)
def test_any_answer_gives_an_image_or_an_imagegate_error(provider: str) -> None:
    """See the module docstring."""
    with asyncio.Runner() as runner:
        up = Upstream()
        server = TestServer(_app(up, provider), host="127.0.0.1")
        runner.run(server.start_server())
        up.base = str(server.make_url("")).rstrip("/")
        # A Flux task the poll answers pending for good (200 or 202 "Pending") runs to the
        # attempt's timeout: 30 s on a clock fifty times fast, well within HANG_S.
        fast = {"clock": ScaledClock(0.02)} if provider == "flux" else {}
        adapter: Provider = build(provider, up.base, **fast)

        async def call() -> ProviderResponse | BaseException:
            try:
                with anyio.fail_after(HANG_S):
                    return await adapter.generate(ask(provider))
            except Exception as exc:  # the property is about what is raised
                return exc

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(answers(provider))
        def one(example: tuple[Answer, Callable[[str], Answer]]) -> None:
            up.answer = example[1](up.base)
            _check(provider, up.answer, runner.run(call()), up)

        try:
            one()
        finally:
            runner.run(adapter.aclose())
            runner.run(server.close())

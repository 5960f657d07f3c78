"""The client code people run today, as the benchmark's baselines.

Each baseline calls Gemini on AI Studio with the official SDK (google-genai's async
client, one per run), exactly as the write-ups recommend, with their timeouts and sleeps
read from the run's clock (so they scale with the simulator):

- `WaterfallClient`: for each tier from the requested one down (4K, 2K, 1K), one
  attempt with a 120 s timeout; the first success wins, else give up.
- `WaterfallRetryClient`: for each tier, up to 3 attempts with a 180 s timeout,
  sleeping ``(attempt + 1) * 30`` s (30 s, then 60 s) between them.
- `BackoffClient`: up to 5 attempts at the requested tier, no timeout of its own;
  on 429/503 sleep ``2**attempt + uniform(0, 1)`` s (the production variant
  ``min(base * 2**attempt + uniform(0, base), 60)`` with base 1 s is the same for 5
  attempts); any other error is raised at once.

Errors are classified as that code does: HTTP 429 or ``RESOURCE_EXHAUSTED`` → "429"; 503
or "overloaded" → "503"; anything else → a non-retryable "500". The waterfalls' own
timeouts are a fourth kind, "timeout": the waterfall with retries pairs its three attempts
with its 180 s timeout, so it retries a timeout (and 429/503) and moves to the next tier
on a "500".

Two deliberate departures, both in the baselines' favour and documented in
docs/benchmarks.md: google-genai's hidden retry of dropped connections (a 1–10 s sleep in
real time, which a scaled clock cannot shrink) is turned off with
``HttpRetryOptions(attempts=1)``, and the image is the first part that is not a Gemini 3
"thought" draft.
"""

from __future__ import annotations

import random
from typing import Final, Literal

from google import genai
from google.genai import types

from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate.bench._contenders import Delivery
from imagegate.bench._setup import BenchEnv, BenchRequest, ladder, raw_gemini_client
from imagegate.resilience.clock import Clock, move_on_after

__all__ = [
    "BackoffClient",
    "FieldError",
    "FieldKind",
    "WaterfallClient",
    "WaterfallRetryClient",
    "classify",
]

FieldKind = Literal["429", "503", "500", "timeout"]
"""How the field's code sees an error."""

_MODALITIES: Final = ["TEXT", "IMAGE"]


class FieldError(Exception):
    """One failed call, as the field's code classifies it.

    Attributes:
        kind: ``"429"``, ``"503"``, ``"500"`` or ``"timeout"``.
    """

    def __init__(self, kind: FieldKind, message: str) -> None:
        self.kind: FieldKind = kind
        super().__init__(f"{kind}: {message}")


def classify(exc: BaseException) -> FieldKind:
    """As the field's code does it: 429/RESOURCE_EXHAUSTED → 429, 503/overloaded → 503, else 500."""
    code = getattr(exc, "code", None)
    text = str(exc)
    if code == 429 or "RESOURCE_EXHAUSTED" in text:
        return "429"
    if code == 503 or "overloaded" in text.lower():
        return "503"
    return "500"


def _first_image(response: types.GenerateContentResponse) -> GeneratedImage:
    """The answer's first image that is not a Gemini 3 "thought" draft.

    Raises:
        FieldError: ``"500"``, when that image is unreadable or there is none.
    """
    for candidate in response.candidates or []:
        parts = (candidate.content.parts if candidate.content else None) or []
        for part in parts:
            blob = part.inline_data
            if not part.thought and blob is not None and blob.data:
                try:
                    return GeneratedImage(blob.data, mime_type=blob.mime_type)
                except ValueError as exc:
                    raise FieldError("500", f"unreadable image: {exc}") from exc
    raise FieldError("500", "the answer carries no image")


class _FieldClient:
    """google-genai on AI Studio, one call at a time, as the field's code makes it."""

    __slots__ = ("_calls", "_client", "_clock", "_model", "_rng", "name")

    name: str

    def __init__(self) -> None:
        self._client: genai.Client | None = None
        self._clock: Clock | None = None
        self._model = ""
        self._rng = random.Random(0)
        self._calls = 0

    async def open(self, env: BenchEnv) -> None:
        """Build the google-genai client for AI Studio on ``env``."""
        endpoint = env.endpoint("gemini")
        spec = env.route("gemini")
        self._model = spec.model if spec is not None else "gemini-3-pro-image"
        self._client = raw_gemini_client(endpoint.base_url, endpoint.api_key)
        self._clock = env.clock
        self._rng = random.Random(env.seed)

    def calls_made(self) -> int:
        """``generate_content`` calls made so far."""
        return self._calls

    async def aclose(self) -> None:
        """Close the SDK's sessions."""
        if self._client is not None:
            await self._client.aio.aclose()
            self._client = None

    async def call(
        self, request: BenchRequest, size: Size, *, timeout_s: float | None
    ) -> GeneratedImage:
        """One ``generate_content`` call at ``size``.

        Raises:
            FieldError: classified as the field's code does.
        """
        assert self._client is not None, "open() first"
        assert self._clock is not None
        self._calls += 1
        config = types.GenerateContentConfig(
            response_modalities=_MODALITIES,
            image_config=types.ImageConfig(image_size=size, aspect_ratio=request.aspect_ratio),
        )
        response: types.GenerateContentResponse | None = None
        try:
            async with move_on_after(self._clock, timeout_s):
                response = await self._client.aio.models.generate_content(
                    model=self._model, contents=request.prompt, config=config
                )
        except Exception as exc:  # the field's code catches everything and classifies
            raise FieldError(classify(exc), f"{type(exc).__name__}: {exc}") from exc
        if response is None:
            raise FieldError("timeout", f"no answer within {timeout_s:g} s")
        return _first_image(response)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the run's clock."""
        assert self._clock is not None
        await self._clock.sleep(seconds)

    def _delivery(self, image: GeneratedImage) -> Delivery:
        return Delivery(image, f"gemini/{self._model}")


class WaterfallClient(_FieldClient):
    """The size waterfall: 4K → 2K → 1K, one attempt each with a 120 s timeout."""

    __slots__ = ()

    timeout_s: Final = 120.0

    def __init__(self) -> None:
        super().__init__()
        self.name = "waterfall"

    async def generate(self, request: BenchRequest) -> Delivery:
        """The first success down the tiers.

        Raises:
            FieldError: the last failure, when every tier failed.
        """
        error: FieldError | None = None
        for size in ladder(request.size):
            try:
                return self._delivery(await self.call(request, size, timeout_s=self.timeout_s))
            except FieldError as exc:
                error = exc
        assert error is not None
        raise error


class WaterfallRetryClient(_FieldClient):
    """The waterfall with retries: per tier 3 attempts, 180 s timeout, sleeping 30 s, 60 s."""

    __slots__ = ()

    timeout_s: Final = 180.0
    attempts: Final = 3
    retried: Final = frozenset({"429", "503", "timeout"})

    def __init__(self) -> None:
        super().__init__()
        self.name = "waterfall-retry"

    async def generate(self, request: BenchRequest) -> Delivery:
        """Retry each tier on 429/503/timeout, move down on anything else.

        Raises:
            FieldError: the last failure, when every tier failed.
        """
        error: FieldError | None = None
        for size in ladder(request.size):
            for attempt in range(self.attempts):
                try:
                    image = await self.call(request, size, timeout_s=self.timeout_s)
                    return self._delivery(image)
                except FieldError as exc:
                    error = exc
                    if exc.kind not in self.retried:
                        break
                    if attempt + 1 < self.attempts:
                        await self.sleep((attempt + 1) * 30)
        assert error is not None
        raise error


class BackoffClient(_FieldClient):
    """Exponential backoff: 5 attempts at the requested tier, backoff on 429/503 only."""

    __slots__ = ()

    attempts: Final = 5

    def __init__(self) -> None:
        super().__init__()
        self.name = "backoff"

    async def generate(self, request: BenchRequest) -> Delivery:
        """Sleep ``2**attempt + U(0, 1)`` s after a 429/503; raise anything else at once.

        Raises:
            FieldError: the first non-retryable failure, or the fifth failure.
        """
        for attempt in range(self.attempts):
            try:
                return self._delivery(await self.call(request, request.size, timeout_s=None))
            except FieldError as exc:
                if exc.kind not in ("429", "503") or attempt + 1 == self.attempts:
                    raise
                await self.sleep(2**attempt + self._rng.uniform(0, 1))
        raise AssertionError("unreachable")  # pragma: no cover

"""`FakeProvider`: a scripted provider for router tests, shipped with the library.

Script what each call should do — an image of a given pixel size after a given latency,
or a given error after a latency — per model and size; every call is recorded. Latency
is slept on the injected clock, so under a `FakeClock` a "300 s timeout" costs nothing.

    fake = FakeProvider(clock=clock)
    fake.script("4K", fail(Overloaded("busy"), latency_s=2.0))   # the next 4K call
    fake.script("2K", succeed(latency_s=50.0))
    # everything else: `default` (an instant success at the requested size)

Input images (edits) reach it as any adapter gets them, in ``ProviderRequest.images`` and
``.mask``; each call keeps its request, so a test sees exactly which images, in which
order, which objects. Like a real adapter it refuses, before its "network call", inputs
its capabilities cannot take (`InvalidRequestError`); by default it takes up to 16 in any
of PNG, JPEG and WebP, and a mask.
"""

from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

import anyio

from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._request import SIZES, Size, pixels_for
from imagegate._result import GeneratedImage
from imagegate.errors import ImageGateError, InvalidRequestError
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.testing._images import make_png

__all__ = ["FakeCall", "FakeOutcome", "FakeProvider", "fail", "succeed"]

_ANY: Literal["*"] = "*"


@dataclass(frozen=True, slots=True)
class FakeOutcome:
    """What one scripted call does.

    Attributes:
        latency_s: Clock seconds before answering.
        error: Raised (a fresh copy each time) after the latency; None means success.
        size: Tier of the image to return; None means the tier requested.
        width: Exact pixel width to return (with ``height``), overriding ``size``.
        height: Exact pixel height to return.
        cost_usd: Cost to report; None lets the router use the price table.
    """

    latency_s: float = 0.0
    error: ImageGateError | None = None
    size: Size | None = None
    width: int | None = None
    height: int | None = None
    cost_usd: float | None = None


def succeed(
    *,
    latency_s: float = 0.0,
    size: Size | None = None,
    width: int | None = None,
    height: int | None = None,
    cost_usd: float | None = None,
) -> FakeOutcome:
    """A call that returns an image after ``latency_s``."""
    if (width is None) != (height is None):
        raise ValueError("give both width and height, or neither")
    return FakeOutcome(latency_s, None, size, width, height, cost_usd)


def fail(error: ImageGateError, *, latency_s: float = 0.0) -> FakeOutcome:
    """A call that raises ``error`` after ``latency_s``."""
    return FakeOutcome(latency_s=latency_s, error=error)


@dataclass(slots=True)
class FakeCall:
    """One recorded call.

    Attributes:
        request: What the router asked for.
        outcome: The scripted outcome used.
        started: Clock time it started.
        ended: Clock time it ended (None while running).
        result: ``"success"``, ``"error"``, ``"cancelled"`` or ``"running"``.
    """

    request: ProviderRequest
    outcome: FakeOutcome
    started: float
    ended: float | None = None
    result: Literal["running", "success", "error", "cancelled"] = "running"

    @property
    def images(self) -> tuple[GeneratedImage, ...]:
        """The input images the call received, in order (``request.images``)."""
        return self.request.images


@dataclass(slots=True)
class _Script:
    queue: deque[FakeOutcome] = field(default_factory=deque)


class FakeProvider:
    """A provider whose every call is scripted and recorded.

    Args:
        name: Registry-style name used in route names (``"fake/model"``).
        default: The outcome when no script matches; an instant success by default.
        capabilities: What every model offers; all tiers, any ratio, up to 10 images,
            $0.01 per image, up to 16 input images (PNG, JPEG, WebP, any byte size) and a
            mask by default.
        clock: Where latency is slept; share the router's clock.
    """

    __slots__ = ("_capabilities", "_scripts", "calls", "clock", "closed", "default", "name")

    def __init__(
        self,
        name: str = "fake",
        *,
        default: FakeOutcome | None = None,
        capabilities: Capabilities | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.name = name
        self.default = default or succeed()
        self._capabilities = capabilities or Capabilities(
            max_n=10,
            price_usd=dict.fromkeys(SIZES, 0.01),
            max_input_images=16,
            supports_mask=True,
        )
        self.clock: Clock = clock or LoopClock()
        self._scripts: dict[tuple[str, str], _Script] = {}
        self.calls: list[FakeCall] = []
        self.closed = False

    def script(
        self, size: Size | Literal["*"] = _ANY, *outcomes: FakeOutcome, model: str = _ANY
    ) -> None:
        """Queue outcomes for the next calls at ``size`` (``"*"``: any) of ``model``.

        The most specific queue with outcomes left wins: (model, size), (model, any),
        (any, size), then (any, any); when all are empty, ``default`` applies.
        """
        self._scripts.setdefault((model, size), _Script()).queue.extend(outcomes)

    def capabilities(self, model: str) -> Capabilities:
        """The same capabilities for every model."""
        return self._capabilities

    def calls_at(self, size: Size) -> list[FakeCall]:
        """Recorded calls that asked for ``size``."""
        return [c for c in self.calls if c.request.size == size]

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Play the next scripted outcome for this model and size, after refusing (as
        `InvalidRequestError`, no call recorded) input images its capabilities cannot take."""
        if request.images or request.mask is not None:
            self._refuse_inputs(request)
        outcome = self._next(request.model, request.size)
        call = FakeCall(request, outcome, self.clock.now())
        self.calls.append(call)
        try:
            await self.clock.sleep(outcome.latency_s)
        except anyio.get_cancelled_exc_class():
            call.ended, call.result = self.clock.now(), "cancelled"
            raise
        call.ended = self.clock.now()
        if outcome.error is not None:
            call.result = "error"
            raise copy.copy(outcome.error)
        call.result = "success"
        return self._respond(request, outcome)

    async def aclose(self) -> None:
        """Mark the provider closed."""
        self.closed = True

    def _refuse_inputs(self, request: ProviderRequest) -> None:
        # Judged on the inputs alone: the fake serves any tier or ratio it is asked for.
        refused = self._capabilities.inputs_refusal(request.images, request.mask)
        if refused is None:
            return
        route, (field, reason) = f"{self.name}/{request.model}", refused
        raise InvalidRequestError(f"{route}: {reason}", field=field, route=route, size=request.size)

    def _next(self, model: str, size: Size) -> FakeOutcome:
        for key in ((model, size), (model, _ANY), (_ANY, size), (_ANY, _ANY)):
            script = self._scripts.get(key)
            if script is not None and script.queue:
                return script.queue.popleft()
        return self.default

    def _respond(self, request: ProviderRequest, outcome: FakeOutcome) -> ProviderResponse:
        if outcome.width is not None and outcome.height is not None:
            width, height = outcome.width, outcome.height
        else:
            width, height = pixels_for(outcome.size or request.size, request.aspect_ratio)
        images = tuple(GeneratedImage(make_png(width, height, seed=i)) for i in range(request.n))
        ignored = outcome.size is not None and outcome.size != request.size
        return ProviderResponse(images=images, cost_usd=outcome.cost_usd, size_ignored=ignored)

    def __repr__(self) -> str:
        return f"FakeProvider(name={self.name!r}, calls={len(self.calls)}, closed={self.closed})"

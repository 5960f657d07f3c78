"""Contenders: the clients the benchmark races, behind one small interface.

A contender is built fresh for every run, opened against a `BenchEnv`, asked for each
request, and closed::

    contender = CONTENDERS["imagegate"].factory()
    await contender.open(env)
    delivery = await contender.generate(request)    # raises when it gives up
    await contender.aclose()

The runner imposes the request's deadline from outside (it cancels ``generate``), reads
latencies from the environment's clock, and counts upstream attempts and cost from the
simulator's own event log, so a contender only has to do what its users would do.

Adding one (for instance an imagegate preset) is one call::

    register_contender(
        "imagegate-quality",
        lambda: ImagegateContender("imagegate-quality", preset="quality"),
        "imagegate with the quality preset",
    )
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from imagegate._result import GeneratedImage
from imagegate._router import Router
from imagegate.bench._setup import BenchEnv, BenchRequest
from imagegate.errors import AllRoutesFailed

_ROUTE_SET_DATE = datetime.date(2026, 5, 1)

__all__ = [
    "CONTENDERS",
    "ORACLE",
    "Contender",
    "ContenderInfo",
    "Delivery",
    "ImagegateContender",
    "register_contender",
]

ORACLE = "oracle"
"""The name under which the two oracles are selected (computed, never run)."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a contender returns for a request it served.

    Attributes:
        image: The image delivered (its tier is read from its own pixels).
        route: Where it came from, in the contender's own words.
    """

    image: GeneratedImage
    route: str


class Contender(Protocol):
    """A client under test (see the module docstring)."""

    name: str

    async def open(self, env: BenchEnv) -> None:
        """Build the clients for ``env``."""
        ...

    async def generate(self, request: BenchRequest) -> Delivery:
        """Serve one request, or raise when giving up."""
        ...

    def calls_made(self) -> int:
        """Upstream calls made so far, as the client counts them (live runs use it)."""
        ...

    async def aclose(self) -> None:
        """Release the clients."""
        ...


@dataclass(frozen=True, slots=True)
class ContenderInfo:
    """A registered contender.

    Attributes:
        name: Its name on the command line and in reports.
        factory: Builds a fresh, unopened contender.
        description: One line for ``--help`` and the docs.
    """

    name: str
    factory: Callable[[], Contender]
    description: str


CONTENDERS: dict[str, ContenderInfo] = {}
"""Every contender the benchmark knows, by name, in registration order."""


def register_contender(name: str, factory: Callable[[], Contender], description: str) -> None:
    """Make a contender selectable with ``--contenders NAME``.

    Raises:
        ValueError: the name is taken or reserved.
    """
    if name in CONTENDERS or name == ORACLE:
        raise ValueError(f"contender {name!r} is already registered")
    CONTENDERS[name] = ContenderInfo(name, factory, description)


class ImagegateContender:
    """imagegate's `Router` over the whole route set.

    The router runs with its default policies (retry, breaker, hedge, retry budget,
    ``strategy="priority"``); ``router_kwargs`` override them (presets, tuning). Two
    settings are the benchmark's, not policies: the router reads the run's clock, and its
    dispatcher is sized at twice the run's concurrency so that it never queues requests
    the other contenders would have sent (they have no such limit). A third follows the
    simulator: ``failover_on_blocked=True``, because its prompt blocks are drawn per
    attempt (docs/benchmarks.md).

    Args:
        name: The contender's name in reports.
        **router_kwargs: Passed to `Router` on top of the benchmark's settings.
    """

    __slots__ = ("_calls", "_kwargs", "name", "router")

    def __init__(self, name: str = "imagegate", **router_kwargs: Any) -> None:
        self.name = name
        self._kwargs = router_kwargs
        self.router: Router | None = None
        self._calls = 0

    async def open(self, env: BenchEnv) -> None:
        """Build and open the router on ``env``'s routes and clock."""
        kwargs: dict[str, Any] = {
            "clock": env.clock,
            "seed": env.seed,
            "max_in_flight": max(16, 2 * env.concurrency),
            # The simulator draws a prompt block per attempt, like a flaky classifier,
            # not per prompt (a real prompt filter refuses the prompt everywhere), and the
            # field's loops all move on after one; so imagegate does too here.
            "failover_on_blocked": True,
            # The route set recreates the 2026 outages with the models of the time
            # (gpt-image-1.5 was shut down on 2026-12-01): judge their lifecycle then.
            "today": _ROUTE_SET_DATE,
        }
        if env.budget_usd is not None:
            kwargs["budget_usd"] = env.budget_usd
        kwargs.update(self._kwargs)
        self.router = Router(env.imagegate_routes(), **kwargs)
        await self.router.open()

    async def generate(self, request: BenchRequest) -> Delivery:
        """``router.generate`` with the request's tier, ratio and deadline."""
        assert self.router is not None, "open() first"
        try:
            result = await self.router.generate(
                request.prompt,
                size=request.size,
                aspect_ratio=request.aspect_ratio,
                deadline=request.deadline_s,
                images=request.images,
            )
        except AllRoutesFailed as exc:
            self._calls += len(exc.attempts)
            raise
        self._calls += len(result.attempts)
        return Delivery(result.image, result.route)

    def calls_made(self) -> int:
        """Attempts the router recorded (cancelled ones included)."""
        return self._calls

    async def aclose(self) -> None:
        """Close the router and its providers."""
        if self.router is not None:
            await self.router.aclose()
            self.router = None

"""What a benchmark run is asked to do: scenarios, load, contenders, requests and routes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from imagegate._request import Size
from imagegate.bench._contenders import ORACLE
from imagegate.bench._oracle import DEFAULT_ORACLE_ATTEMPTS
from imagegate.bench._setup import DEFAULT_DEADLINE_S, DEFAULT_ROUTES, RouteSpec
from imagegate.errors import ConfigurationError

__all__ = ["DEFAULT_TIME_SCALE_FLOOR", "BenchConfig"]

DEFAULT_TIME_SCALE_FLOOR: Final[Mapping[str, float]] = {"litellm": 0.02}
"""LiteLLM spends 10–30 ms of CPU per call; at 0.02 that is under a simulated second."""


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to run.

    Attributes:
        scenarios: Scenario names (built-in or TOML paths).
        requests: Requests per contender and scenario.
        concurrency: Requests in flight at once.
        seed: The world's seed (and every contender's).
        time_scale: Real seconds per simulated second, or None (the default) for virtual
            time: simulated time moves only when every task waits, so CPU time and the
            machine's load cost nothing and a seed always gives the same figures (see
            `imagegate.bench._virtual`).
        time_scale_floor: With a time scale, per contender, the smallest one it runs at: a
            client that spends much CPU per call (LiteLLM: 10–30 ms) would otherwise see
            it stretched into simulated seconds (at 0.01, 30 ms is 3 s).
        contenders: Contender names, ``"oracle"`` for both oracles.
        size: The tier every request asks for.
        aspect_ratio: The ratio every request asks for.
        deadline_s: Every request's deadline (simulated seconds).
        oracle_attempts: Attempts per (route, tier) the oracles may use.
        input_images: Input images per request (edits; imagegate contenders only).
        routes: The route set.
    """

    scenarios: tuple[str, ...] = ("outage-2026-01-21",)
    requests: int = 200
    concurrency: int = 32
    seed: int = 0
    time_scale: float | None = None
    time_scale_floor: Mapping[str, float] = field(
        default_factory=lambda: dict(DEFAULT_TIME_SCALE_FLOOR)
    )
    contenders: tuple[str, ...] = (
        "waterfall",
        "waterfall-retry",
        "backoff",
        "litellm",
        "imagegate",
        ORACLE,
    )
    size: Size = "4K"
    aspect_ratio: str = "1:1"
    deadline_s: float = DEFAULT_DEADLINE_S
    oracle_attempts: int = DEFAULT_ORACLE_ATTEMPTS
    input_images: int = 0
    routes: tuple[RouteSpec, ...] = DEFAULT_ROUTES

    def __post_init__(self) -> None:
        if self.input_images:
            others = [c for c in self.contenders if c != ORACLE and not c.startswith("imagegate")]
            if self.input_images < 0 or others:
                raise ConfigurationError(
                    "--input-images takes a count of 0 or more and imagegate contenders only "
                    f"(the others send no input images): drop {', '.join(others) or 'it'}"
                )

    @property
    def virtual(self) -> bool:
        """True on virtual time (no time scale)."""
        return self.time_scale is None

    def scale_for(self, contender: str) -> float:
        """The time scale ``contender`` runs at: ``time_scale``, or its floor if larger;
        1.0 on virtual time (one virtual second per simulated second)."""
        if self.time_scale is None:
            return 1.0
        return max(self.time_scale, self.time_scale_floor.get(contender, 0.0))

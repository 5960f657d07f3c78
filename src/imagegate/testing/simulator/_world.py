"""The oracle: what an attempt returns, as a pure function of who asked what, and when.

An attempt's outcome and latency depend only on (seed, prompt, provider, model, size, k),
where k counts the earlier attempts of the same (prompt, provider, model, size). The
tuple is hashed with BLAKE2b into eight uniforms in [0, 1): the first picks the outcome
from the profile's weights, the next ones the size-ignored draw, the latency, the trickle
time, the retry hint and the image colours. No global random state is involved, so every
contender in a benchmark faces the same world, and `World.plan` can tell, without a
server, what any (route, size, k) would have returned.

Quotas (RPM, IPM, RPD, concurrency) are not part of the plan: they depend on what else
was asked and when, and are applied by the server on top of it.

Prompt markers force outcomes in tests: ``[sim:overloaded]`` makes every attempt of the
prompt overloaded; ``[sim:overloaded*2,success]`` fails attempts 0 and 1 and succeeds
from attempt 2 on; ``[sim@gemini/4K:deadline]`` applies to one provider (and size) only;
``[sim:success~300]`` pins the latency to 300 simulated seconds. The first marker whose
scope matches wins; markers are part of the prompt, so plans stay deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Final

from imagegate._request import Size
from imagegate.testing.simulator._scenario import (
    FORCEABLE_KINDS,
    PROVIDERS,
    Latency,
    PlannedKind,
    Profile,
    Scenario,
)

__all__ = ["BILLED_KINDS", "IMAGE_KINDS", "PlannedOutcome", "World", "parse_markers"]

IMAGE_KINDS: Final = frozenset({"success", "size_ignored", "slow_body"})
"""Outcomes that deliver an image to a client that waits for it."""

BILLED_KINDS: Final = frozenset(
    {"success", "size_ignored", "slow_body", "truncated", "reset", "text_refusal"}
)
"""Outcomes the simulated provider charges for: it finished the work (the image or a text
answer was produced, even if the connection then failed). Rejections, errors, deadlines
and safety blocks are free."""

# Outcomes that happen after the work, so they take the success latency (and may run
# into the deadline); the others are fast failures.
_SLOW_KINDS: Final = frozenset(
    {"success", "size_ignored", "slow_body", "truncated", "reset", "image_safety", "text_refusal"}
)
_NORMAL: Final = NormalDist()
_Z95: Final = _NORMAL.inv_cdf(0.95)
_MARKER: Final = re.compile(r"\[sim(?:@(?P<scope>[^:\]]+))?:(?P<seq>[^\]]*)\]")
_ITEM: Final = re.compile(
    r"(?P<kind>[a-z_0-9]+)(?:~(?P<latency>\d+(?:\.\d*)?))?(?:\*(?P<times>\d+))?"
)


@dataclass(frozen=True, slots=True)
class PlannedOutcome:
    """What the world has in store for one attempt (before quotas).

    Attributes:
        kind: The outcome (``"success"``, ``"overloaded"``, ``"deadline"`` …).
        latency_s: Simulated seconds until the answer starts (the deadline for a
            ``deadline``).
        billed: Whether the provider charges for it (see `BILLED_KINDS`).
        delivered_size: The tier of the image delivered, or None when none is.
        trickle_s: For ``slow_body``: seconds the body takes to arrive; else 0.
        retry_after_s: For ``rate_limited``: the retry hint; else 0.
        image_seed: Picks the image colours.
        forced: True when a prompt marker chose the kind.
    """

    kind: str
    latency_s: float
    billed: bool
    delivered_size: Size | None
    trickle_s: float = 0.0
    retry_after_s: float = 0.0
    image_seed: int = 0
    forced: bool = False

    @property
    def delivers_image(self) -> bool:
        """Whether a patient client gets an image."""
        return self.kind in IMAGE_KINDS

    @property
    def ends_at_s(self) -> float:
        """Simulated seconds from the start until the whole answer has been sent."""
        return self.latency_s + self.trickle_s


@dataclass(frozen=True, slots=True)
class _Marker:
    provider: str | None
    size: str | None
    sequence: tuple[tuple[str, float | None], ...]


@functools.lru_cache(maxsize=4096)
def parse_markers(prompt: str) -> tuple[_Marker, ...]:
    """The ``[sim...]`` markers in a prompt, in order.

    Raises:
        ValueError: a marker names an unknown kind, provider or size.
    """
    return tuple(_Marker(*_scope(match), _sequence(match)) for match in _MARKER.finditer(prompt))


def _scope(match: re.Match[str]) -> tuple[str | None, str | None]:
    """The provider and size a marker applies to (None: any)."""
    scope = match["scope"]
    if not scope:
        return None, None
    provider_part, _, size_part = scope.partition("/")
    provider = None if provider_part in ("", "*") else provider_part
    size = size_part or None
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"marker {match[0]!r}: unknown provider {provider!r}")
    if size is not None and size not in ("1K", "2K", "4K"):
        raise ValueError(f"marker {match[0]!r}: unknown size {size!r}")
    return provider, size


def _sequence(match: re.Match[str]) -> tuple[tuple[str, float | None], ...]:
    """A marker's kinds, one per attempt (``KIND*3`` repeated), with pinned latencies."""
    sequence: list[tuple[str, float | None]] = []
    for raw in match["seq"].split(","):
        item = _ITEM.fullmatch(raw.strip())
        if item is None or item["kind"] not in FORCEABLE_KINDS:
            raise ValueError(
                f"marker {match[0]!r}: {raw.strip()!r} is not KIND[~SECONDS][*TIMES] with "
                f"KIND one of {', '.join(FORCEABLE_KINDS)}"
            )
        latency = float(item["latency"]) if item["latency"] else None
        sequence.extend([(item["kind"], latency)] * int(item["times"] or 1))
    return tuple(sequence)


def _uniforms(*parts: object) -> tuple[float, ...]:
    key = "\x1f".join(str(p) for p in parts).encode()
    digest = hashlib.blake2b(key, digest_size=64).digest()
    return tuple(v / 2**64 for v in struct.unpack("<8Q", digest))


def sample(latency: Latency, u: float) -> float:
    """The value of ``latency`` at quantile ``u`` (a uniform in [0, 1))."""
    if latency.fixed is not None:
        return latency.fixed
    if latency.min is not None and latency.max is not None:
        return latency.min + u * (latency.max - latency.min)
    assert latency.p50 is not None
    assert latency.p95 is not None
    sigma = math.log(latency.p95 / latency.p50) / _Z95
    z = _NORMAL.inv_cdf(min(max(u, 1e-12), 1 - 1e-12))
    return latency.p50 * math.exp(sigma * z)


def _smaller(size: Size) -> Size | None:
    return {"4K": "2K", "2K": "1K"}.get(size)  # type: ignore[return-value]


class World:
    """The deterministic outcome function of one scenario and seed.

    Args:
        scenario: The scenario whose profiles define the odds.
        seed: Any integer; different seeds give different (equally likely) worlds.
    """

    __slots__ = ("scenario", "seed")

    def __init__(self, scenario: Scenario, *, seed: int = 0) -> None:
        self.scenario = scenario
        self.seed = seed

    def profile(self, provider: str, model: str, size: Size) -> Profile | None:
        """The profile that serves (provider, model, size), or None."""
        return self.scenario.profile_for(provider, model, size)

    def plan(
        self, *, prompt: str, provider: str, model: str, size: Size, attempt: int = 0
    ) -> PlannedOutcome:
        """What attempt number ``attempt`` (0-based) of this request would return.

        Pure: it neither touches a server nor the event log.

        Raises:
            LookupError: no profile of the scenario serves (provider, model, size).
            ValueError: the prompt carries an invalid ``[sim:...]`` marker.
        """
        profile = self.profile(provider, model, size)
        if profile is None:
            raise LookupError(
                f"scenario {self.scenario.name!r} has no profile for {provider}/{model} {size}"
            )
        u = _uniforms(self.seed, prompt, provider, model, size, attempt)
        kind, pinned = self._forced(prompt, provider, size, attempt)
        forced = kind is not None
        if kind is None:
            kind = _drawn_kind(profile, u[0], u[1])
        latency = pinned if pinned is not None else _latency(profile, kind, u[2])
        if kind in _SLOW_KINDS and latency > profile.deadline_s:
            kind, latency = "deadline", profile.deadline_s
        return PlannedOutcome(
            kind=kind,
            latency_s=latency,
            billed=kind in BILLED_KINDS,
            delivered_size=_delivered(kind, size),
            trickle_s=sample(profile.trickle_s, u[3]) if kind == "slow_body" else 0.0,
            retry_after_s=sample(profile.retry_after_s, u[4]) if kind == "rate_limited" else 0.0,
            image_seed=int(u[5] * 4),
            forced=forced,
        )

    def _forced(
        self, prompt: str, provider: str, size: str, attempt: int
    ) -> tuple[str | None, float | None]:
        if not self.scenario.markers or "[sim" not in prompt:
            return None, None
        for marker in parse_markers(prompt):
            if marker.provider not in (None, provider) or marker.size not in (None, size):
                continue
            return marker.sequence[min(attempt, len(marker.sequence) - 1)]
        return None, None

    def __repr__(self) -> str:
        return f"World(scenario={self.scenario.name!r}, seed={self.seed})"


def _drawn_kind(profile: Profile, u_kind: float, u_size: float) -> str:
    """The outcome drawn from the profile's weights; a success may ignore the size."""
    kind = _weighted(profile.outcomes, u_kind)
    if kind == "success" and u_size < profile.size_ignored:
        return "size_ignored"
    return kind


def _latency(profile: Profile, kind: str, u: float) -> float:
    """The deadline for a ``deadline``; the success latency for outcomes that come after
    the work; the fail latency for fast failures."""
    if kind == "deadline":
        return profile.deadline_s
    if kind in _SLOW_KINDS:
        return sample(profile.latency_s, u)
    return sample(profile.fail_latency_s, u)


def _delivered(kind: str, size: Size) -> Size | None:
    """The tier of the image delivered, or None when none is."""
    if kind not in IMAGE_KINDS:
        return None
    return _smaller(size) if kind == "size_ignored" else size


def _weighted(weights: Mapping[PlannedKind, float], u: float) -> str:
    total = sum(weights.values())
    threshold = u * total
    running = 0.0
    last: str = "success"
    for kind, weight in weights.items():
        if weight <= 0:
            continue
        running += weight
        last = kind
        if threshold < running:
            return kind
    return last

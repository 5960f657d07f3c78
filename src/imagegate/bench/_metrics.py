"""Per-contender figures, computed the same way for every contender.

Definitions (docs/benchmarks.md repeats them):

- **success**: share of requests that delivered an image within the deadline.
- **at size**: share of *all* requests delivered at the requested tier (the tier is read
  from the image's own pixels).
- **p50 / p95 / p99**: percentiles of the time to an image over *all* requests, a
  failure counting as never (``inf``): a client cannot look fast by failing fast. The
  success-only percentiles are kept too (``p50_ok_s``, ``p95_ok_s``).
- **attempts per request**: upstream attempts the simulator saw (its event log, every
  outcome including quota rejections), divided by requests.
- **cost per image**: what the simulated providers billed (their own record), at the
  benchmark's prices, divided by images delivered; the upper figure adds attempts the
  client cannot know were free (it hung up, the connection broke, a proxy answered).
- **abandoned**: attempts the client hung up on although they would have delivered
  within the request's deadline — what a client's own timeouts or cancellations cost it;
  **rescuable** counts the failed requests that had such an attempt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Final

from imagegate._request import Size
from imagegate.bench._oracle import OracleChoice
from imagegate.bench._setup import BenchRequest
from imagegate.testing.simulator import IMAGE_KINDS, SimEvent

__all__ = [
    "UNCERTAIN_OUTCOMES",
    "Metrics",
    "RequestRecord",
    "oracle_records",
    "percentile",
    "summarize",
    "summarize_oracle",
]

UNCERTAIN_OUTCOMES: Final = frozenset({"disconnected", "reset", "truncated", "html_502"})
"""Outcomes after which a client cannot tell whether it was charged."""

_EPSILON_S: Final = 1e-6


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """How one request went for one contender.

    Attributes:
        index: The request's position in the run.
        ok: Whether an image was delivered in time.
        latency_s: Clock seconds to the image, or until the contender gave up.
        size: The tier delivered (from the pixels), or None.
        route: Where the image came from, in the contender's words.
        error: A short description of the failure, or None.
        started: Clock time the request started (to line it up with the event log).
    """

    index: int
    ok: bool
    latency_s: float
    size: Size | None = None
    route: str | None = None
    error: str | None = None
    started: float = 0.0


@dataclass(frozen=True, slots=True)
class Metrics:
    """Every figure of one contender in one scenario (definitions in the module docstring).

    Attributes:
        contender: The contender's name.
        requests: Requests sent.
        successes: Requests that delivered in time.
        success_rate: ``successes / requests``.
        at_size: Share of requests delivered at the requested tier.
        sizes: Delivered tiers and how many.
        p50_s: Median time to an image (inf when half failed).
        p95_s: 95th percentile.
        p99_s: 99th percentile.
        p50_ok_s: Median over successes only (None without successes).
        p95_ok_s: 95th percentile over successes only.
        attempts_per_request: Upstream attempts per request (None when unknown).
        billed_usd: Billed cost of the run.
        possibly_billed_usd: Cost of attempts that may or may not have been billed.
        cost_per_image_usd: ``billed_usd`` per delivered image (None without images).
        cost_per_image_upper_usd: Billed plus possibly billed, per delivered image.
        wall_s: Real seconds the run took.
        abandoned: Attempts hung up on that would have delivered in time.
        rescuable: Failed requests that had such an attempt.
        oracle_violations: Requests served faster than the latency oracle allows (must
            be 0; None for the oracles themselves).
        errors: The most common failure kinds and their counts.
    """

    contender: str
    requests: int
    successes: int
    success_rate: float
    at_size: float
    sizes: dict[str, int]
    p50_s: float
    p95_s: float
    p99_s: float
    p50_ok_s: float | None
    p95_ok_s: float | None
    attempts_per_request: float | None
    billed_usd: float
    possibly_billed_usd: float
    cost_per_image_usd: float | None
    cost_per_image_upper_usd: float | None
    wall_s: float
    abandoned: int = 0
    rescuable: int = 0
    oracle_violations: int | None = None
    errors: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (``inf`` becomes None)."""
        return {k: _finite(v) for k, v in asdict(self).items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile ``q`` (0–100) of ``values``; ``inf`` entries sort last.

    Raises:
        ValueError: ``values`` is empty.
    """
    if not values:
        raise ValueError("percentile of nothing")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _latency_figures(records: Sequence[RequestRecord]) -> dict[str, Any]:
    to_image = [r.latency_s if r.ok else math.inf for r in records]
    ok = [r.latency_s for r in records if r.ok]
    return {
        "p50_s": percentile(to_image, 50),
        "p95_s": percentile(to_image, 95),
        "p99_s": percentile(to_image, 99),
        "p50_ok_s": percentile(ok, 50) if ok else None,
        "p95_ok_s": percentile(ok, 95) if ok else None,
    }


def _sizes(records: Sequence[RequestRecord], requested: Mapping[int, Size]) -> dict[str, Any]:
    sizes = Counter(r.size for r in records if r.ok and r.size is not None)
    at_size = sum(1 for r in records if r.ok and r.size == requested[r.index])
    return {
        "sizes": {str(k): v for k, v in sorted(sizes.items())},
        "at_size": at_size / len(records),
    }


@dataclass(frozen=True, slots=True)
class _Upstream:
    """What reached the providers in one run: attempts, cost and attempts hung up on."""

    attempts_per_request: float | None = None
    billed_usd: float = 0.0
    possibly_billed_usd: float = 0.0
    abandoned: int = 0
    rescuable: int = 0


def summarize(
    contender: str,
    records: Sequence[RequestRecord],
    requests: Sequence[BenchRequest],
    *,
    wall_s: float,
    events: Sequence[SimEvent] | None,
    price_usd: Callable[[str, str], float],
    oracle: Sequence[OracleChoice] | None = None,
    client_calls: int | None = None,
) -> Metrics:
    """The figures of one contender's run.

    Args:
        contender: Its name.
        records: One per request, any order.
        requests: The run's requests.
        wall_s: Real seconds the run took.
        events: The simulator's event log of the run; None live (attempts then come
            from ``client_calls`` and cost is estimated from them).
        price_usd: ``(provider, model) → price per image``.
        oracle: The latency oracle per request (by index), to count violations.
        client_calls: Upstream calls as the client counted them (live runs).
    """
    successes = sum(1 for r in records if r.ok)
    if events is not None:
        upstream = _from_events(events, records, requests, price_usd)
    elif client_calls is not None:
        upstream = _from_client(client_calls, records, len(requests), price_usd)
    else:
        upstream = _Upstream()
    billed, possibly = upstream.billed_usd, upstream.possibly_billed_usd
    return Metrics(
        contender=contender,
        requests=len(records),
        successes=successes,
        success_rate=successes / len(records),
        **_sizes(records, {q.index: q.size for q in requests}),
        **_latency_figures(records),
        attempts_per_request=upstream.attempts_per_request,
        billed_usd=billed,
        possibly_billed_usd=possibly,
        cost_per_image_usd=_per_image(billed, successes),
        cost_per_image_upper_usd=_per_image(billed + possibly, successes),
        wall_s=wall_s,
        abandoned=upstream.abandoned,
        rescuable=upstream.rescuable,
        oracle_violations=None if oracle is None else _violations(records, oracle),
        errors=_error_kinds(records),
    )


def _from_events(
    events: Sequence[SimEvent],
    records: Sequence[RequestRecord],
    requests: Sequence[BenchRequest],
    price_usd: Callable[[str, str], float],
) -> _Upstream:
    """Attempts, cost and abandoned attempts from the simulator's own record of the run
    (events of prompts outside ``requests`` are another run's)."""
    prompts = {q.prompt: q for q in requests}
    ours = [(event, prompts[event.prompt]) for event in events if event.prompt in prompts]
    billed, possibly = _costs([event for event, _ in ours], price_usd)
    abandoned = _abandoned(ours, records)
    return _Upstream(
        attempts_per_request=len(ours) / len(requests),
        billed_usd=billed,
        possibly_billed_usd=possibly,
        abandoned=len(abandoned),
        rescuable=len({r.index for r in abandoned if not r.ok}),
    )


def _costs(
    events: Sequence[SimEvent], price_usd: Callable[[str, str], float]
) -> tuple[float, float]:
    """What ``events`` billed, and what they may have billed unknown to the client."""
    billed = possibly = 0.0
    for event in events:
        price = price_usd(event.provider, event.model)
        if event.billed:
            billed += price
        elif event.outcome in UNCERTAIN_OUTCOMES:
            possibly += price
    return billed, possibly


def _abandoned(
    ours: Sequence[tuple[SimEvent, BenchRequest]], records: Sequence[RequestRecord]
) -> list[RequestRecord]:
    """Per attempt the client hung up on although it would have delivered within the
    request's deadline, that request's record."""
    by_index = {r.index: r for r in records}
    abandoned: list[RequestRecord] = []
    for event, request in ours:
        record = by_index.get(request.index)
        if (
            record is not None
            and event.outcome == "disconnected"
            and event.planned in IMAGE_KINDS
            and event.started + event.latency_s <= record.started + request.deadline_s
        ):
            abandoned.append(record)
    return abandoned


def _from_client(
    client_calls: int,
    records: Sequence[RequestRecord],
    requests: int,
    price_usd: Callable[[str, str], float],
) -> _Upstream:
    """Attempts and cost from the client's own count (live: there is no provider record;
    delivered images are billed, the other calls may be)."""
    successes = sum(1 for r in records if r.ok)
    billed = 0.0
    for record in records:
        if record.ok and record.route:
            billed += _route_price(record.route, price_usd)
    return _Upstream(
        attempts_per_request=client_calls / requests,
        billed_usd=billed,
        possibly_billed_usd=max(0, client_calls - successes) * _max_price(price_usd, records),
    )


def _violations(records: Sequence[RequestRecord], oracle: Sequence[OracleChoice]) -> int:
    """Requests served where the latency oracle says nothing could be, or sooner than it."""
    count = 0
    for record in records:
        bound = oracle[record.index]
        if record.ok and (not bound.ok or record.latency_s < bound.latency_s - _EPSILON_S):
            count += 1
    return count


def _error_kinds(records: Sequence[RequestRecord]) -> dict[str, int]:
    """The six most common failure kinds (the text before an error's first colon)."""
    kinds = Counter(r.error.split(":")[0] for r in records if not r.ok and r.error)
    return dict(kinds.most_common(6))


def _per_image(cost_usd: float, images: int) -> float | None:
    return cost_usd / images if images else None


def _route_price(route: str, price_usd: Callable[[str, str], float]) -> float:
    provider, _, model = route.partition("/")
    return price_usd(provider, model)


def _max_price(price_usd: Callable[[str, str], float], records: Sequence[RequestRecord]) -> float:
    prices = [_route_price(r.route, price_usd) for r in records if r.route]
    return max(prices, default=0.0)


def oracle_records(
    choices: Sequence[OracleChoice], requests: Sequence[BenchRequest]
) -> list[RequestRecord]:
    """The oracle's choices as request records (latency inf where nothing delivers)."""
    return [
        RequestRecord(q.index, c.ok, c.latency_s, c.size, c.route, None if c.ok else "nothing")
        for q, c in zip(requests, choices, strict=True)
    ]


def summarize_oracle(
    name: str, choices: Sequence[OracleChoice], requests: Sequence[BenchRequest]
) -> Metrics:
    """The figures of an oracle: attempts and cost come from its choices."""
    records = oracle_records(choices, requests)
    successes = sum(1 for c in choices if c.ok)
    billed = sum(c.cost_usd for c in choices)
    return Metrics(
        contender=name,
        requests=len(records),
        successes=successes,
        success_rate=successes / len(records),
        **_sizes(records, {q.index: q.size for q in requests}),
        **_latency_figures(records),
        attempts_per_request=sum(c.attempts for c in choices) / len(choices),
        billed_usd=billed,
        possibly_billed_usd=0.0,
        cost_per_image_usd=_per_image(billed, successes),
        cost_per_image_upper_usd=_per_image(billed, successes),
        wall_s=0.0,
        errors={"nothing in time": len(records) - successes} if successes < len(records) else {},
    )

"""What a request hands back: the record of each attempt, then the `ImageResult` built from
the winning one, or the `AllRoutesFailed` that carries every attempt and every skip.

Either way, every option the request did not try is listed with its reason
(`SkippedOption`: on ``ImageResult.skipped``, and as ``"route@size: reason"`` on
``AllRoutesFailed.skipped``), and logged once per request at debug level as
``options.skipped``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from imagegate._flight import Flight, Landing
from imagegate._provider import ProviderResponse, plausible_cost
from imagegate._request import ImageRequest, Size, size_rank
from imagegate._result import Attempt, ImageResult, Outcome, SkippedOption
from imagegate._run_view import RunView
from imagegate.errors import (
    AllRoutesFailed,
    DeadlineExceeded,
    ImageGateError,
    NoImageReturned,
    ProviderError,
)

__all__ = [
    "build_failure",
    "build_result",
    "cancelled_attempt",
    "check_response",
    "delivered_tier",
    "record",
]


def delivered_tier(response: ProviderResponse) -> Size | None:
    """The tier of the answer's first image (read from its pixels), None without one or
    below 1K: worked out once per answer, for `check_response` and `record`."""
    return response.images[0].size if response.images else None


def check_response(
    response: ProviderResponse,
    delivered: Size | None,
    request: ImageRequest,
    route: str,
    size: Size,
) -> ProviderError | None:
    """An empty answer, or an image too small for the request (``delivered``: its tier,
    `delivered_tier`), is a (billed) failure."""
    if not response.images:
        return NoImageReturned("provider answered without an image", route=route, size=size)
    floor = request.sizes_allowed[-1]
    if delivered is None or (delivered != floor and size_rank(delivered) < size_rank(floor)):
        image = response.images[0]
        return NoImageReturned(
            f"delivered {image.width}x{image.height} ({delivered or 'below 1K'}), "
            f"smaller than the smallest acceptable tier {floor}",
            route=route,
            size=size,
            retryable=False,
        )
    return None


def record(
    flight: Flight,
    ended: float,
    response: ProviderResponse | None,
    error: ImageGateError | None,
    delivered: Size | None,
) -> Attempt:
    """The record of ``flight``'s call, which ended at ``ended`` with ``response`` (its
    image's tier ``delivered``, `delivered_tier`) or ``error``. A cost the provider reports
    that cannot be a price is not believed: the attempt is booked at the catalogue
    estimate and marked ``cost_rejected``."""
    assert flight.called_at is not None
    route, size = flight.option.route.name, flight.option.size
    started, estimate = flight.called_at, flight.estimate_usd
    if response is not None:
        cost, rejected = estimate, False
        if response.cost_usd is not None:
            # A provider's answer is a third party's word: a NaN, infinite or negative
            # cost would turn the budget cap off or block it for good.
            # Per image asked for: a body with a thousand images must not raise the ceiling.
            rejected = not plausible_cost(response.cost_usd, flight.run.request.n)
            cost = estimate if rejected else float(response.cost_usd)
        return Attempt(
            route, size, started, ended, "success", None, response.billing, cost,
            hedge=flight.hedge, delivered_size=delivered, number=flight.number,
            cost_rejected=rejected,
        )  # fmt: skip
    billing = error.billing if isinstance(error, ProviderError) else "not_billed"
    outcome: Outcome = (
        "timeout" if isinstance(error, DeadlineExceeded) and error.status is None else "error"
    )
    cost = estimate if billing != "not_billed" else 0.0
    return Attempt(
        route, size, started, ended, outcome, error, billing, cost,
        hedge=flight.hedge, number=flight.number, abandoned=flight.abandoned,
    )  # fmt: skip


def cancelled_attempt(flight: Flight, ended: float) -> Attempt:
    """The record of ``flight``'s call, cancelled at ``ended``: possibly billed."""
    assert flight.called_at is not None
    return Attempt(
        flight.option.route.name,
        flight.option.size,
        flight.called_at,
        ended,
        "cancelled",
        None,
        "possibly_billed",
        flight.estimate_usd,
        hedge=flight.hedge,
        number=flight.number,
        abandoned=flight.abandoned,
    )


def build_result(run: RunView, winner: Landing) -> ImageResult:
    """The `ImageResult` of ``winner``'s image, with every attempt of the request."""
    assert winner.response is not None
    option, request, log = winner.flight.option, run.request, run.log
    response = winner.response
    # The tier its record read from the image (one look at the pixels per answer).
    delivered = (
        winner.attempt.delivered_size if winner.attempt is not None else response.images[0].size
    )
    downgraded = delivered is None or (
        delivered != request.size and size_rank(delivered) < size_rank(request.size)
    )
    if winner.flight.hedge:
        log.info("hedge.won", route=option.route.name, size=option.size)
    if downgraded:
        log.info(
            "downgrade",
            route=option.route.name,
            requested=request.size,
            delivered=delivered,
        )
    attempts = (
        tuple(run.attempts)
        if len(run.attempts) == 1
        else tuple(sorted(run.attempts, key=lambda a: a.started))
    )
    skipped = run.cursor.untried(option)
    _log_skipped(run, skipped)
    return ImageResult(
        images=response.images,
        route=option.route.name,
        provider=option.route.provider,
        model=option.route.model,
        requested_size=request.size,
        size=delivered,
        downgraded=downgraded,
        attempts=attempts,
        cost_usd=sum(a.cost_usd for a in attempts),
        latency_s=run.time.elapsed(),
        request_id=run.request_id,
        size_ignored=response.size_ignored or delivered != option.size,
        metadata=dict(response.metadata),
        skipped=skipped,
    )


def build_failure(run: RunView) -> AllRoutesFailed:
    """The `AllRoutesFailed` of a request that got no image: why, every attempt, every
    skipped option."""
    attempts = sorted(run.attempts, key=lambda a: a.started)
    untried = run.cursor.untried(None)
    _log_skipped(run, untried)
    if run.cursor.blocked:
        reason = "the prompt was blocked"
    elif run.time.expired():
        reason = "deadline reached"
    elif attempts:
        reason = "every allowed option failed"
    else:
        reason = "no route could take the request"
    return AllRoutesFailed(
        f"{reason}: {len(attempts)} attempt(s)"
        + "".join(f"; {a.route}@{a.size}: {a.error or a.outcome}" for a in attempts)
        + "".join(f"; skipped {s}" for s in untried),
        attempts=attempts,
        skipped_options=untried,
    )


def _log_skipped(run: RunView, skipped: Sequence[SkippedOption]) -> None:
    """One debug event listing the options the request did not try (route, size and
    reason: nothing upstream-chosen beyond a route's name)."""
    log = run.log
    if not skipped or not log.is_enabled_for(logging.DEBUG):
        return
    log.debug(
        "options.skipped",
        skipped=[
            {"route": s.route, "size": s.size, "reason": s.reason, "detail": s.detail}
            for s in skipped
        ],
    )

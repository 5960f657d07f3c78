"""The events that end an attempt and a request, as the logs (and OpenTelemetry) carry them.

``attempt.end`` (debug) is what an operator reads about one upstream call: route, size,
outcome, duration, HTTP status, error class and its redacted message, billing and cost.
``request.end`` (info for a request that got an image, warning for one that did not)
says how the request ended: delivered size, attempts, cost, downgraded, options skipped.
Fields are plain values (money rounded to 1/10000 of a cent, times to the millisecond),
so a JSON formatter writes them as they are.
"""

from __future__ import annotations

import logging
from typing import Any

from imagegate._logging import RequestLog
from imagegate._numbers import ms, usd
from imagegate._result import Attempt, ImageResult
from imagegate._route import Route
from imagegate._run_view import RunView
from imagegate.errors import AllRoutesFailed, ImageGateError, ProviderError

__all__ = ["attempt_ended", "log_request_end"]


def _error_fields(error: ImageGateError | None) -> dict[str, Any]:
    if error is None:
        return {}
    status = error.status if isinstance(error, ProviderError) else None
    return {"error": type(error).__name__, "status": status, "message": error.message}


def attempt_ended(run: RunView, route: Route, attempt: Attempt) -> None:
    """Report a recorded attempt: ``attempt.end`` in the log, and to OpenTelemetry."""
    telemetry = run.telemetry
    if telemetry is not None:
        telemetry.attempt(run.trace, route, attempt)
    log = run.log
    if not log.is_enabled_for(logging.DEBUG):
        return
    log.debug(
        "attempt.end",
        route=attempt.route,
        size=attempt.size,
        outcome=attempt.outcome,
        duration_s=ms(attempt.duration_s),
        billing=attempt.billing,
        cost_usd=usd(attempt.cost_usd),
        number=attempt.number,
        hedge=attempt.hedge,
        delivered_size=attempt.delivered_size,
        abandoned=attempt.abandoned,
        **_error_fields(attempt.error),
    )


def log_request_end(log: RequestLog, result: ImageResult | AllRoutesFailed) -> None:
    """Log ``request.end`` for a request's result, or for its failure."""
    if isinstance(result, ImageResult):
        if log.is_enabled_for(logging.INFO):
            log.info(
                "request.end",
                outcome="image",
                route=result.route,
                requested_size=result.requested_size,
                size=result.size,
                downgraded=result.downgraded,
                attempts=len(result.attempts),
                cost_usd=usd(result.cost_usd),
                latency_s=ms(result.latency_s),
                skipped=len(result.skipped),
            )
    elif log.is_enabled_for(logging.WARNING):
        log.warning(
            "request.end",
            outcome="failed",
            attempts=len(result.attempts),
            cost_usd=usd(sum(a.cost_usd for a in result.attempts)),
            skipped=len(result.skipped),
            message=result.message,
        )

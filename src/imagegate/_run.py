"""One request, run to its end against the router's `Engine`.

A request's life, and the module that owns each part of it::

    RequestRun(engine, request)
      plan             the ladder of options, ranked                 _plan, _ranking
      execute          one attempt at a time, until an image         _solo
                       or nothing; the hedged race once a hedge       _race
                       is due
        next start     retry, next rung or deferred retry; why not   _cursor
          why not      route rejected, size's time used up, guards   _deadline, guards
        hedge          when a slow attempt gets one, and where       _hedging
        one attempt    slot, gate, wait, call, record, settle        _attempt, _call
          the gate     every guard's booking in one round trip       guards
          its time     min(attempt timeout, what is left)            _deadline
      answer           ImageResult, or AllRoutesFailed               _answer

The `Engine` (`_engine`) is what a run needs from its router: providers, policies and
shared state, its ranking of options (`_ranking`) and the guards every attempt passes
(`guards`). The pieces read the run only through `_run_view.RunView`, or are handed what
they need (the race), so none of them imports this module back.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from imagegate import _otel
from imagegate._answer import build_failure, build_result
from imagegate._attempt import AttemptRunner
from imagegate._cursor import OptionCursor
from imagegate._deadline import TimeBudget
from imagegate._engine import Engine
from imagegate._events import log_request_end
from imagegate._flight import Landing
from imagegate._hedging import Hedging
from imagegate._logging import RequestLog
from imagegate._otel import RequestTrace, Telemetry
from imagegate._plan import Option
from imagegate._ranking import Strategy
from imagegate._request import ImageRequest
from imagegate._result import Attempt, ImageResult
from imagegate._solo import run_solo
from imagegate.resilience.budget import ExtraKind

__all__ = ["Engine", "RequestRun", "Strategy"]


class RequestRun:
    """Runs one validated request against an `Engine` (its life: the module docstring).

    Args:
        engine: The router's engine.
        request: The validated request.
        request_id: The id its log events and result carry.
    """

    __slots__ = (
        "attempts",
        "cursor",
        "engine",
        "guards",
        "hedging",
        "log",
        "request",
        "request_id",
        "runner",
        "telemetry",
        "time",
        "trace",
    )

    def __init__(self, engine: Engine, request: ImageRequest, request_id: str) -> None:
        self.engine = engine
        self.request = request
        self.request_id = request_id
        self.log = RequestLog(engine.log, request_id)
        self.time = TimeBudget(engine, request)
        plan = engine.plan(request)
        self.cursor = OptionCursor(self, engine.rank(plan.options), plan.skipped)
        self.guards = engine.pipeline()
        self.hedging = Hedging(self)
        self.runner = AttemptRunner(self)
        self.attempts: list[Attempt] = []
        self.trace: RequestTrace | None = None
        # Decided once per request: it reports in full, or not at all.
        telemetry = _otel.telemetry
        self.telemetry: Telemetry | None = (
            telemetry if telemetry is not None and telemetry.active() else None
        )
        self.guards.open(self)

    def execute(self) -> Coroutine[Any, Any, ImageResult]:
        """Run the request; the result, or `AllRoutesFailed` / `BudgetExceeded` (to
        await: without telemetry, the run itself, with no frame around it)."""
        telemetry = self.telemetry
        if telemetry is None:
            return self._execute()
        return self._traced(telemetry)

    async def _execute(self) -> ImageResult:
        try:
            return self._end(
                await run_solo(self.cursor, self.hedging, self.runner, self.engine.clock)
            )
        finally:
            self._unlink()

    async def _traced(self, telemetry: Telemetry) -> ImageResult:
        try:
            return await telemetry.run(self, self._solo)
        finally:
            self._unlink()

    async def _solo(self) -> ImageResult:
        return self._end(await run_solo(self.cursor, self.hedging, self.runner, self.engine.clock))

    def _unlink(self) -> None:
        # The parts hold the run, and the run its parts: without this, each request
        # would leave a cycle for the garbage collector (with its images, until a
        # collection); with 32 requests in flight that cost ~36 µs a request.
        del self.cursor, self.hedging, self.runner

    def _end(self, end: Landing | None) -> ImageResult:
        """The result of the landing that ended the request, or the error that ends it."""
        if end is None:
            failure = build_failure(self)
            log_request_end(self.log, failure)
            raise failure
        if end.stop is not None:
            raise end.stop
        result = build_result(self, end)
        log_request_end(self.log, result)
        return result

    def peek(self, option: Option) -> str | None:
        """Why a guard says ``option`` cannot be tried now, or None."""
        return self.guards.peek(option, self)

    def spend(self, kind: ExtraKind) -> str | None:
        """Why the guards refuse to pay for an extra attempt of ``kind``, or None."""
        return self.guards.spend(kind, self)

    def __repr__(self) -> str:
        return (
            f"RequestRun(request_id={self.request_id!r}, attempts={len(self.attempts)}, "
            f"skipped={len(self.cursor.skipped)}, {self.time!r})"
        )

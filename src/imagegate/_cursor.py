"""What a request tries next, and why not: its walk down the ladder of options.

After a failure the last option is retried (after its backoff) when the retry policy, the
option's guards and the retry budget allow it; a retry whose wait is longer than
``failover_after_s`` is put off instead while another option is left, and taken up once
the ladder is used up. Otherwise the next option of the ladder is tried, unless it is
unavailable now: its route rejected the request, its size's time is used up, or a guard
says why not (the reason is kept in the request's `SkipRecord`). The options after the
requested size are ranked again (`Ranking.rank_rest`) each time the walk reaches them,
with the evidence and the time left of that moment::

    next start:   retry the last option   (due now, allowed, paid for)
                  the next option         (skipping the unavailable ones)
                  a retry put off earlier (once due, if it still fits the deadline)
                  nothing                 (the prompt was blocked, or out of time)
"""

from __future__ import annotations

from collections.abc import Sequence

from imagegate._flight import Landing
from imagegate._plan import Option
from imagegate._ranking import Ranked
from imagegate._request import Size
from imagegate._result import SkippedOption, SkipReason
from imagegate._run_view import RunView
from imagegate._skips import SkipRecord
from imagegate.errors import ContentBlocked, ImageGateError, InvalidRequestError, ProviderError

__all__ = ["OptionCursor", "Start"]

Start = tuple[Option, int]
"""An option to try and the attempt number there."""


class OptionCursor:
    """A request's position on its ladder, its pending retries and its skipped options.

    Args:
        run: The request.
        ranked: The options in the order to try them (the engine's `Ranked`).
        skipped: Options left out of the plan already, with their reason.
    """

    __slots__ = (
        "_dead_routes",
        "_deferred",
        "_fixed",
        "_pos",
        "_retry",
        "_run",
        "_tries",
        "blocked",
        "options",
        "skips",
    )

    def __init__(self, run: RunView, ranked: Ranked, skipped: Sequence[SkippedOption]) -> None:
        self._run = run
        self.options: list[Option] = ranked.options
        self._fixed = ranked.fixed
        self.skips = SkipRecord(skipped)
        self.blocked = False  # the prompt was refused: nothing else is tried
        self._pos = 0
        self._tries: dict[tuple[int, Size], int] = {}
        self._dead_routes: set[int] = set()
        self._retry: tuple[Option, int, ImageGateError] | None = None
        self._deferred: list[tuple[float, Option, int]] = []  # (due, option, number)

    @property
    def skipped(self) -> tuple[SkippedOption, ...]:
        """The options left out or skipped so far, with their reason."""
        return self.skips.so_far

    def number(self, option: Option) -> int:
        """The attempt number the next attempt at ``option`` gets."""
        return self._tries.get((option.index, option.size), 0) + 1

    def count(self, option: Option) -> None:
        """An attempt at ``option`` is launched."""
        key = (option.index, option.size)
        self._tries[key] = self._tries.get(key, 0) + 1

    def untried(self, winner: Option | None) -> tuple[SkippedOption, ...]:
        """Every option the request did not try, with its reason, once it ends
        (``winner``: the option that delivered, None when none did)."""
        run = self._run
        otherwise: tuple[SkipReason, str] = (
            ("blocked", "the prompt was blocked")
            if self.blocked
            else ("deadline", "deadline reached")
        )
        return self.skips.untried(
            self.options,
            run.attempts,
            winner=winner,
            soonest_first=run.engine.order == "soonest",
            otherwise=otherwise,
        )

    def why_not(self, option: Option) -> str | None:
        """Why ``option`` cannot be tried now, or None."""
        if option.index in self._dead_routes:
            return "route rejected the request"
        if self._run.time.size_spent(option.size):
            return f"time for {option.size} used up (kept for smaller sizes)"
        return self._run.peek(option)

    def fallback_after(self, option: Option) -> bool:
        """Whether an option other than ``option`` is still left to try."""
        return any(
            o is not option and o.index not in self._dead_routes for o in self.options[self._pos :]
        )

    async def next_start(self) -> Start | None:
        """The next option to try and its attempt number, once any backoff is slept;
        None when nothing is left (see the module docstring)."""
        if self._retry is not None:  # asked only then: no coroutine for nothing
            retry = await self._retry_last()
            if retry is not None:
                return retry
        ranked = False
        while self._pos < len(self.options) and not self.blocked:
            if self._run.time.expired():
                return None
            if self._pos >= self._fixed and not ranked:
                self._rank_rest()
                ranked = True
            option = self.options[self._pos]
            self._pos += 1
            reason = self.why_not(option)
            if reason is None:
                return option, self.number(option)
            self.skips.skip(option, reason)
        return await self._deferred_retry()

    def absorb(self, landing: Landing) -> None:
        """Learn from an attempt that landed without an image."""
        flight = landing.flight
        option = flight.option
        if landing.attempt is None:
            self.skips.skip(option, landing.skipped or "refused at the gate")
            if landing.out_of_time:
                self._pos = len(self.options)
            return
        error = landing.attempt.error
        if isinstance(error, ContentBlocked) and error.stage == "prompt":
            if not self._run.engine.failover_on_blocked:
                self.blocked = True
            return
        if isinstance(error, InvalidRequestError):
            self._dead_routes.add(option.index)
            return
        if not flight.hedge and isinstance(error, ProviderError) and error.retryable:
            self._retry = (option, flight.number, error)

    def _rank_rest(self) -> None:
        """Rank the options not yet reached again, with what is known now."""
        pos, run = self._pos, self._run
        self.options[pos:] = run.engine.rank_rest(
            self.options[pos:],
            remaining_s=run.time.remaining(),
            explore=run.engine.explores(run.time.elapsed(), run.request.deadline_s),
            passed_over=self.skips.passed_over,
        )

    async def _retry_last(self) -> Start | None:
        """The retry of the option that just failed, if due now; a long wait is put off
        while another option is left."""
        retry, self._retry = self._retry, None
        if retry is None or self.blocked:
            return None
        option, number, error = retry
        run = self._run
        wait = run.engine.retry.next_wait_s(number, error, remaining_s=run.time.remaining())
        if wait is None:
            return None
        failover_after = run.engine.retry.failover_after_s
        if failover_after is not None and wait > failover_after and self.fallback_after(option):
            self._defer(option, number, wait, error)
            return None
        if self.why_not(option) is None and run.spend("retry") is None:
            return await self._retry_after(option, number, wait, error=type(error).__name__)
        return None

    def _defer(self, option: Option, number: int, wait: float, error: ImageGateError) -> None:
        """Another option may answer before this one is even due again."""
        self._deferred.append((self._run.engine.clock.now() + wait, option, number))
        self._run.log.info(
            "retry.deferred",
            route=option.route.name,
            size=option.size,
            wait_s=round(wait, 3),
            error=type(error).__name__,
        )

    async def _deferred_retry(self) -> Start | None:
        """The earliest retry put off for failover, once due (the ladder is used up)."""
        run = self._run
        self._deferred.sort(key=lambda item: item[0])
        while self._deferred and not self.blocked:
            due, option, number = self._deferred.pop(0)
            wait = max(0.0, due - run.engine.clock.now())
            remaining = run.time.remaining()
            if remaining is not None and wait + run.engine.retry.min_attempt_s > remaining:
                continue
            if self.why_not(option) is not None or run.spend("retry") is not None:
                continue
            return await self._retry_after(option, number, wait, deferred=True)
        return None

    async def _retry_after(self, option: Option, number: int, wait: float, **why: object) -> Start:
        """Log the retry of attempt ``number`` at ``option``, wait, and hand it back."""
        self._run.log.info(
            "retry.scheduled",
            route=option.route.name,
            size=option.size,
            number=number + 1,
            wait_s=round(wait, 3),
            **why,
        )
        await self._run.engine.clock.sleep(wait)
        return option, number + 1

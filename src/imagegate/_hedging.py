"""When a slow attempt gets a hedge, and on which option (the router's `HedgePolicy`).

A main attempt above the hedge size that has not answered after the policy's delay
(fixed, or learned from its (route, size)) gets a *smaller* hedge: with
``target="likely"`` the option at the hedge size most likely to answer, with
``"soonest"`` the option at or below it expected to deliver soonest; a backup only when no
primary can take it. With ``race_quantile``, a main attempt at or below the hedge size
gets a *same-size* race once past that quantile of its (route, size) latencies: the option
at its size (``target="soonest"``: at or below it) expected soonest, by one Thompson draw
each, of equals one not in flight. With ``race_share``, that share of requests opens with
two attempts: the first attempt's race is due at once::

    main attempt             hedge                      after
    above policy.size        smaller (likely/soonest)   delay_for(window)
    at or below it           same size (a race)         delay_for(window, race_quantile)
    a request's first        same size (a race)         0 s, for race_share of requests

A hedge is paid for like a retry (the guards' ``spend``); a race must also fit in the load
budget, when the router has one. At most `MAX_HEDGES` per main attempt and
``max_in_flight`` attempts at once; a further hedge waits one more delay after the last
one started (one that failed fast is replaced at once). With ``prefer="quality"`` a
smaller hedge that wins waits ``grace_s`` for the larger main attempt.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from imagegate._cursor import Start
from imagegate._flight import Flight
from imagegate._plan import Option
from imagegate._request import size_rank
from imagegate._run_view import RunView
from imagegate.resilience.hedge import HedgePolicy

__all__ = ["MAX_HEDGES", "Hedging"]

MAX_HEDGES = 2


class Hedging:
    """The hedging decisions of one request.

    Args:
        run: The request.
    """

    __slots__ = ("_opening", "_run")

    def __init__(self, run: RunView) -> None:
        self._run = run
        self._opening: bool | None = None  # whether the request opens with two, once drawn

    def wait_s(self, flying: Sequence[Flight]) -> float | None:
        """Seconds until the main attempt (``flying[0]``, the others its hedges) is due a
        hedge — 0 for a request's first attempt that opens a race (``race_share``); None
        when it gets none (no policy, ``max_in_flight`` reached, hedged enough, a hedge
        itself, or no hedge applies to its size)."""
        main = flying[0]
        policy = self._run.engine.hedge
        if (
            policy is None
            or len(flying) >= policy.max_in_flight
            or main.hedges >= MAX_HEDGES
            or main.hedge
        ):
            return None
        if self._opens(main, policy):
            return 0.0
        delay = self._delay_s(main, policy)
        if delay is None:
            return None
        since = max(f.launched for f in flying)
        return max(0.0, since + delay - self._run.engine.clock.now())

    def fire(self, main: Flight, flying: Sequence[Flight]) -> Start | None:
        """The hedge of ``main`` to start now, paid for; None (logged) when no option
        can take it or the guards refuse to pay for it."""
        policy = self._run.engine.hedge
        assert policy is not None
        opens = self._opens(main, policy)
        main.hedges += 1
        if opens:
            return self._paid(main, self._same_size(main, flying), "race.opened", race=True)
        if policy.races(main.option.size):
            return self._paid(main, self._same_size(main, flying), "hedge.fired", race=True)
        return self._paid(main, self._smaller(main, policy), "hedge.fired", race=False)

    def _opens(self, main: Flight, policy: HedgePolicy) -> bool:
        """Whether ``main`` is the request's first attempt, not hedged yet, and the
        request is one of the ``race_share`` that open with two (drawn once, from the
        router's seeded random source)."""
        if main.extra or main.hedges > 0 or policy.race_share <= 0:
            return False
        if self._opening is None:
            self._opening = self._run.engine.rng.random() < policy.race_share
        return self._opening

    def grace_s(self, winner: Flight, main: Flight) -> float:
        """How long a winning hedge smaller than the main attempt waits for it (0: not
        at all)."""
        policy = self._run.engine.hedge
        if (
            policy is None
            or policy.prefer != "quality"
            or policy.grace_s <= 0
            or size_rank(winner.option.size) >= size_rank(main.option.size)
        ):
            return 0.0
        return policy.grace_s

    def _delay_s(self, main: Flight, policy: HedgePolicy) -> float | None:
        """How long ``main`` runs before its hedge is due; None when none applies."""
        run, size = self._run, main.option.size
        window = run.engine.windows.get((main.option.route.name, size))
        now = run.engine.clock.now()
        if policy.races(size):
            return policy.delay_for(window, now, quantile=policy.race_quantile)
        if policy.applies_to(size) and policy.size in run.request.sizes_allowed:
            return policy.delay_for(window, now)
        return None

    def _paid(self, main: Flight, target: Option | None, event: str, *, race: bool) -> Start | None:
        """``target`` as the hedge's start once the guards (and, for a race, the load
        budget) pay for it; None, logged, otherwise."""
        run = self._run
        where = {"route": main.option.route.name, "size": main.option.size}
        reason = "no option can take it" if target is None else self._refusal(race)
        if target is None or reason is not None:
            run.log.info("hedge.skipped", **where, reason=reason)
            return None
        run.log.info(event, **where, hedge_route=target.route.name, hedge_size=target.size)
        return target, run.cursor.number(target)

    def _refusal(self, race: bool) -> str | None:
        """Why the hedge (``race``: a same-size race) is not paid for, or None once it is."""
        load = self._run.engine.load
        if race and load is not None and not load.affords(1.0):
            return "load budget spent"
        return self._run.spend("hedge")

    def _same_size(self, main: Flight, flying: Sequence[Flight]) -> Option | None:
        """The option at ``main``'s size (``target="soonest"``: at or below it) expected
        soonest, as one Thompson draw of each (`Ranking.sampled_time_s`: a route barely
        measured still gets raced), of equals one not in flight; primaries before
        backups unless ``race_backups``."""
        run = self._run
        engine, policy = run.engine, run.engine.hedge
        assert policy is not None
        backups_last = not policy.race_backups
        busy = {id(f.option) for f in flying}
        rank = size_rank(main.option.size)
        smaller_too = policy.target == "soonest"
        candidates = [
            o
            for o in run.cursor.options
            if (size_rank(o.size) == rank or (smaller_too and size_rank(o.size) < rank))
            and run.cursor.why_not(o) is None
        ]

        def key(o: Option) -> tuple[bool, float, bool]:
            return backups_last and o.route.backup, engine.sampled_time_s(o), id(o) in busy

        return min(candidates, key=key, default=None)

    def _smaller(self, main: Flight, policy: HedgePolicy) -> Option | None:
        """``target="likely"``: the option at the hedge size most likely to answer;
        ``"soonest"``: the option at or below it expected to deliver soonest. A
        different model (a backup) only when no primary can take the hedge."""
        run = self._run
        engine, options = run.engine, run.cursor.options
        key: Callable[[Option], tuple[bool, float]]
        if policy.target == "soonest":
            limit = size_rank(policy.size)
            candidates = [o for o in options if size_rank(o.size) <= limit and o is not main.option]
            key = engine.soonest_key
        else:
            candidates = [o for o in options if o.size == policy.size]
            key = lambda o: (o.route.backup, -engine.success_estimate(o.route.name, o.size))  # noqa: E731
        available = [o for o in candidates if run.cursor.why_not(o) is None]
        return min(available, key=key, default=None)  # the first of equals, as ranked

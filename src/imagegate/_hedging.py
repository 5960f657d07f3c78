"""When a slow attempt gets a hedge, and on which option (the router's `HedgePolicy`).

A main attempt above the hedge size that has not answered after the policy's delay
(fixed, or learned from its (route, size)) gets a hedge: with ``target="likely"`` the
option at the hedge size most likely to answer, with ``"soonest"`` the option at or below
it expected to deliver soonest; a backup only when no primary can take it. A hedge is
paid for like a retry (the guards' ``spend``). At most `MAX_HEDGES` per main attempt: a
second one only when the first failed fast. With ``prefer="quality"`` a hedge that wins
waits ``grace_s`` for the larger main attempt.
"""

from __future__ import annotations

from collections.abc import Callable

from imagegate._cursor import Start
from imagegate._flight import Flight
from imagegate._plan import Option
from imagegate._request import size_rank
from imagegate._run_view import RunView

__all__ = ["MAX_HEDGES", "Hedging"]

MAX_HEDGES = 2


class Hedging:
    """The hedging decisions of one request.

    Args:
        run: The request.
    """

    __slots__ = ("_run",)

    def __init__(self, run: RunView) -> None:
        self._run = run

    def wait_s(self, main: Flight, hedge: Flight | None) -> float | None:
        """Seconds until ``main`` is due a hedge; None when it gets none (no policy, a
        hedge in flight, hedged enough, a hedge itself, or not above the hedge size)."""
        run = self._run
        policy = run.engine.hedge
        if (
            policy is None
            or hedge is not None
            or main.hedges >= MAX_HEDGES
            or main.hedge
            or not policy.applies_to(main.option.size)
            or policy.size not in run.request.sizes_allowed
        ):
            return None
        now = run.engine.clock.now()
        window = run.engine.windows.get((main.option.route.name, main.option.size))
        delay = policy.delay_for(window, now)
        return max(0.0, main.launched + delay - now)

    def fire(self, main: Flight) -> Start | None:
        """The hedge of ``main`` to start now, paid for; None (logged) when no option
        can take it or the guards refuse to pay for it."""
        main.hedges += 1
        run = self._run
        target = self._target(main)
        where = {"route": main.option.route.name, "size": main.option.size}
        reason = "no option can take it" if target is None else run.spend("hedge")
        if target is None or reason is not None:
            run.log.info("hedge.skipped", **where, reason=reason)
            return None
        run.log.info("hedge.fired", **where, hedge_route=target.route.name, hedge_size=target.size)
        return target, run.cursor.number(target)

    def grace_s(self) -> float:
        """How long a winning hedge waits for the larger main attempt (0: not at all)."""
        policy = self._run.engine.hedge
        if policy is None or policy.prefer != "quality" or policy.grace_s <= 0:
            return 0.0
        return policy.grace_s

    def _target(self, main: Flight) -> Option | None:
        """``target="likely"``: the option at the hedge size most likely to answer;
        ``"soonest"``: the option at or below it expected to deliver soonest. A
        different model (a backup) only when no primary can take the hedge."""
        run = self._run
        engine, options = run.engine, run.cursor.options
        policy = engine.hedge
        assert policy is not None
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

"""Why each option of a request was not tried: the record behind `ImageResult.skipped`.

Reasons come from three places, and the latest one an option got is the one kept:

    the plan        the route cannot serve the tier, ratio or n        unsupported
    the walk        why not now (route rejected, size's time used up,  the guard's reason
                    a guard's peek) and refusals at the gate
    the ranking     a larger size ranked after the option picked       larger_price, slower,
                    (`imagegate._ranking.Ranking.rank_rest`)           slower_than_time_left

When the request ends, every option without an attempt is listed once: with its reason,
or — never reached — why not: an earlier option delivered (``not_needed``; a larger size
that ``latency`` ranked after the winner: ``slower``), the deadline ran out, or the
prompt was blocked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Final

from imagegate._plan import Option
from imagegate._ranking import OptionKey, PassedOver
from imagegate._request import size_rank
from imagegate._result import Attempt, SkippedOption, SkipReason

__all__ = ["SkipRecord", "classify"]

# How the built-in guards and the walk word their reasons (imagegate.guards, _cursor,
# _attempt); anything else comes from a guard added to the router.
_PREFIXES: Final[tuple[tuple[str, SkipReason], ...]] = (
    ("breaker open", "breaker_open"),
    ("estimated success", "admission"),
    ("load budget", "load_budget"),
    ("rate limit or quota", "quota"),
    ("shared state", "shared_state"),
    ("deadline reached", "deadline"),
    ("time for ", "deadline"),
    ("route rejected", "route_rejected"),
)


def classify(detail: str) -> SkipReason:
    """The `SkipReason` of a reason in words (a guard's ``peek``, a gate refusal)."""
    for prefix, reason in _PREFIXES:
        if detail.startswith(prefix):
            return reason
    return "guard"


_NOT_NEEDED: dict[OptionKey, SkippedOption] = {}
"""The ``not_needed`` record of each (route, size): the same for every request that did
not need it (a larger size delivered first), and immutable, so built once and shared."""
_NOT_NEEDED_MAX = 1024


def _not_needed(key: OptionKey) -> SkippedOption:
    skipped = _NOT_NEEDED.get(key)
    if skipped is None:
        if len(_NOT_NEEDED) >= _NOT_NEEDED_MAX:  # route names are the caller's: bounded
            _NOT_NEEDED.clear()
        skipped = _NOT_NEEDED[key] = SkippedOption(key[0], key[1], "not_needed")
    return skipped


class SkipRecord:
    """The reasons a request's options were not tried, gathered while it runs.

    Args:
        unsupported: The options the plan left out (reason ``"unsupported"``).
    """

    __slots__ = ("_reasons", "passed_over", "unsupported")

    def __init__(self, unsupported: Sequence[SkippedOption]) -> None:
        self.unsupported = tuple(unsupported)
        self._reasons: dict[OptionKey, SkippedOption] = {}
        self.passed_over: PassedOver = {}

    def skip(self, option: Option, detail: str) -> SkippedOption:
        """``option`` was not tried now, for ``detail`` (in words)."""
        skipped = SkippedOption(option.route.name, option.size, classify(detail), detail)
        self._reasons[(option.route.name, option.size)] = skipped
        return skipped

    @property
    def so_far(self) -> tuple[SkippedOption, ...]:
        """The options left out or skipped so far (some may be tried later)."""
        return self.unsupported + tuple(self._reasons.values())

    def untried(
        self,
        options: Iterable[Option],
        attempts: Iterable[Attempt],
        *,
        winner: Option | None,
        soonest_first: bool,
        otherwise: tuple[SkipReason, str],
    ) -> tuple[SkippedOption, ...]:
        """Every option without an attempt, once, with its reason (the module docstring).

        Args:
            options: The request's options, in the order they were ranked.
            attempts: Every attempt of the request.
            winner: The option that delivered, or None when none did.
            soonest_first: Whether the options were ranked by expected time alone (a
                larger size after a smaller winner was then expected later).
            otherwise: The reason of an option never reached when no image came.
        """
        tried = {(a.route, a.size) for a in attempts}
        # The usual end: an option delivered, ranked by size, and the ranking passed none
        # over, so every option never reached was not needed (`_never_reached` says so).
        needless = winner is not None and not soonest_first and not self.passed_over
        listed = list(self.unsupported)
        for option in options:
            key = (option.route.name, option.size)
            if key in tried:
                continue
            recorded = self._reasons.get(key)
            if recorded is None and needless:
                recorded = _not_needed(key)
            elif recorded is None:
                reason, detail = self._never_reached(option, winner, soonest_first, otherwise)
                recorded = (
                    _not_needed(key)
                    if reason == "not_needed" and not detail
                    else SkippedOption(option.route.name, option.size, reason, detail)
                )
            listed.append(recorded)
        return tuple(listed)

    def _never_reached(
        self,
        option: Option,
        winner: Option | None,
        soonest_first: bool,
        otherwise: tuple[SkipReason, str],
    ) -> tuple[SkipReason, str]:
        if winner is None:
            return otherwise
        key, won = (option.route.name, option.size), (winner.route.name, winner.size)
        note = self.passed_over.get((key, won))
        if note is not None:
            return note
        if soonest_first and size_rank(option.size) > size_rank(winner.size):
            return "slower", f"{winner.size} was expected sooner"
        return "not_needed", ""

    def __repr__(self) -> str:
        return f"SkipRecord(skipped={len(self._reasons) + len(self.unsupported)})"

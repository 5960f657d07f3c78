"""The table at the end of ``imagegate batch``: where the items went, at what size, for
how much, and why the others failed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TextIO

from imagegate._status import print_table
from imagegate.batch._journal import ItemResult

__all__ = ["Tally"]

_FAILURE_KINDS_SHOWN = 5
_KIND_CHARS = 60


@dataclass(slots=True)
class _Route:
    delivered: int = 0
    as_asked: int = 0
    attempts: int = 0
    cost_usd: float = 0.0


class Tally:
    """Counts of a batch's results by route, and of its failures by kind (the error's
    first clause); a few numbers per route, however many items the batch has."""

    __slots__ = ("_failures", "_routes")

    def __init__(self) -> None:
        self._routes: dict[str, _Route] = {}
        self._failures: Counter[str] = Counter()

    def add(self, result: ItemResult) -> None:
        """Count one item's result (earlier runs' results too)."""
        if not result.ok:
            self._failures[_kind(result.error)] += 1
            return
        route = self._routes.setdefault(result.route or "?", _Route())
        route.delivered += 1
        route.as_asked += result.requested_size in (None, result.size)
        route.attempts += result.attempts
        route.cost_usd += result.cost_usd

    def print(self, out: TextIO) -> None:
        """The tables, if anything was counted."""
        if self._routes:
            rows = [
                [name, str(r.delivered), f"{r.as_asked / r.delivered:.0%}",
                 f"{r.attempts / r.delivered:.2f}", f"${r.cost_usd:.2f}"]
                for name, r in sorted(self._routes.items(), key=lambda kv: -kv[1].delivered)
            ]  # fmt: skip
            headers = ["route", "delivered", "at the size asked", "attempts/item", "cost"]
            print_table("delivered, by route (all runs)", headers, rows, out)
        if self._failures:
            common = self._failures.most_common(_FAILURE_KINDS_SHOWN)
            rows = [[kind, str(count)] for kind, count in common]
            rest = self._failures.total() - sum(count for _, count in common)
            if rest:
                rows.append(["(other)", str(rest)])
            print_table("failed, by error", ["error", "items"], rows, out)


def _kind(error: str | None) -> str:
    """An error's first clause, short: what a column of a summary can hold."""
    text = (error or "unknown").split(";")[0].split(": ")[0].strip()
    return text if len(text) <= _KIND_CHARS else text[: _KIND_CHARS - 1] + "…"

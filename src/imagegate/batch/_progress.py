"""`Progress`: the live counts of a running batch."""

from __future__ import annotations

from imagegate.batch._journal import ItemResult, Journal

__all__ = ["Progress", "in_words"]


class Progress:
    """Live counts of a running batch, updated by `run` (read them from anywhere).

    Attributes:
        done: Items delivered, earlier runs included.
        failed: Items failed, earlier runs included.
        resumed: Items of those finished by earlier runs.
        in_flight: Items running now.
        parked: Items waiting now for a quota to reset or an outage to end.
        next_wake: When the first parked item runs again, on the router's clock
            (``router.clock.now()``); None when none waits.
        expired: Items failed because they were still parked at ``until``.
        cost_usd: What this run's attempts cost or may have cost.
        interrupted: Items an earlier run started and never finished (run again).
        parked_earlier: Items an earlier run left parked (run again).
        held: Items left for a later run: their Batch API job may exist, but the list
            of jobs could not be read to find it.
        torn: The torn last journal line cut off, or None.
        run: This run's number.
    """

    __slots__ = (
        "cost_usd",
        "done",
        "expired",
        "failed",
        "held",
        "in_flight",
        "interrupted",
        "next_wake",
        "parked",
        "parked_earlier",
        "resumed",
        "run",
        "torn",
    )

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.resumed = 0
        self.in_flight = 0
        self.parked = 0
        self.next_wake: float | None = None
        self.expired = 0
        self.cost_usd = 0.0
        self.interrupted = 0
        self.parked_earlier = 0
        self.held = 0
        self.torn: str | None = None
        self.run = 0

    def opened(self, journal: Journal) -> None:
        """Take this run's number and what earlier runs left from its journal."""
        self.run, self.torn = journal.run, journal.torn
        self.interrupted = len(journal.interrupted)
        self.parked_earlier = len(journal.parked)

    def count(self, result: ItemResult) -> None:
        """Count one finished item (its cost was counted as its attempts ended)."""
        if result.ok:
            self.done += 1
        else:
            self.failed += 1
        if result.resumed:
            self.resumed += 1

    def __repr__(self) -> str:
        return (
            f"Progress(run={self.run}, done={self.done}, failed={self.failed}, "
            f"in_flight={self.in_flight}, parked={self.parked}, cost_usd={self.cost_usd:.4f})"
        )


def in_words(seconds: float) -> str:
    """A wait in words: ``"42 s"``, ``"12 min"``, ``"9.3 h"``."""
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

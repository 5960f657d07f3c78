"""An outcome window keeps its statistics until an outcome comes or goes."""

from __future__ import annotations

from imagegate.resilience.stats import OutcomeWindow


def test_statistics_are_kept_until_an_outcome_comes() -> None:
    """Read twice with nothing new: the same snapshot; a new outcome: a fresh one."""
    window = OutcomeWindow(window_s=100.0)
    window.record(success=True, latency_s=2.0, now=0.0)
    first = window.statistics(10.0)
    assert window.statistics(20.0) is first
    window.record(success=False, latency_s=1.0, now=30.0)
    second = window.statistics(30.0)
    assert (second.calls, second.successes) == (2, 1)


def test_statistics_drop_an_outcome_once_it_leaves_the_window() -> None:
    """A snapshot holds only while its oldest outcome is inside the window."""
    window = OutcomeWindow(window_s=100.0)
    window.record(success=True, latency_s=2.0, now=0.0)
    window.record(success=True, latency_s=4.0, now=50.0)
    assert window.statistics(100.0).calls == 2
    later = window.statistics(100.5)
    assert (later.calls, later.mean_s) == (1, 4.0)
    assert window.statistics(151.0).calls == 0
    assert window.statistics(151.0).success_rate is None

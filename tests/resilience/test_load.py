"""LoadBudget: the running balance of extra upstream attempts."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagegate.resilience.load import LoadBudget


def test_each_request_pays_for_its_share_of_extra_attempts() -> None:
    """target 1.5: two requests pay for one extra attempt."""
    budget = LoadBudget(1.5, max_tokens=1.0)
    budget.spend_extra()
    assert not budget.affords(1.0)
    budget.open_request()
    budget.open_request()
    assert budget.affords(1.0)
    stats = budget.statistics()
    assert (stats.requests, stats.extra_attempts, stats.tokens, stats.refused) == (2, 1, 1.0, 1)


def test_in_flight_commitments_are_not_spent_twice() -> None:
    """A burst that asks before any attempt has failed sees what the others committed."""
    budget = LoadBudget(1.5, max_tokens=1.0)
    admitted = 0
    for _ in range(10):
        budget.open_request()
        if budget.affords(0.5):
            budget.commit(0.5)
            admitted += 1
    # 1 initial token + 10 × 0.5 deposited = 6 tokens; each admission commits 0.5.
    assert admitted == 10
    budget.open_request()
    assert budget.statistics().pending == 5.0
    heavy = [budget.commit(1.0) for _ in range(2)]
    assert not budget.affords(0.5)
    for amount in heavy:
        budget.release(amount)
    assert budget.affords(0.5)


def test_only_the_free_balance_is_capped() -> None:
    """A quiet stretch saves up at most max_tokens beyond what is committed."""
    budget = LoadBudget(2.0, max_tokens=2.0)
    for _ in range(10):
        budget.open_request()
    assert budget.statistics().tokens == 2.0
    budget.commit(1.0)
    budget.commit(1.0)
    for _ in range(10):
        budget.open_request()
    stats = budget.statistics()
    assert stats.tokens - stats.pending == 2.0


def test_an_extra_attempt_may_overdraw() -> None:
    """A fallback is never refused: the balance goes negative and later admissions wait."""
    budget = LoadBudget(1.2, max_tokens=0.0)
    budget.spend_extra()
    budget.spend_extra()
    assert budget.statistics().tokens == -2.0
    for _ in range(10):
        budget.open_request()
    assert budget.affords(0.0)
    assert not budget.affords(0.5)


def test_commit_is_clamped_and_release_never_goes_negative() -> None:
    """Expected extra attempts lie within [0, 1]; a stray release cannot create credit."""
    budget = LoadBudget(1.5)
    assert budget.commit(-0.3) == 0.0
    assert budget.commit(1.7) == 1.0
    budget.release(5.0)
    assert budget.statistics().pending == 0.0


@pytest.mark.parametrize("bad", [0.5, float("nan")])
def test_target_below_one_is_refused(bad: float) -> None:
    """An average below one attempt per request is impossible."""
    with pytest.raises(ValueError, match="at least 1"):
        LoadBudget(bad)


def test_repr_and_negative_bucket() -> None:
    """The repr shows the balance; a negative bucket is refused."""
    assert "tokens=4.00" in repr(LoadBudget(1.5, max_tokens=4.0))
    with pytest.raises(ValueError, match="max_tokens"):
        LoadBudget(1.5, max_tokens=-1.0)


@given(
    target=st.floats(1.0, 3.0),
    steps=st.lists(st.sampled_from(["request", "extra", "ask"]), max_size=200),
)
def test_extra_attempts_admitted_stay_within_what_was_paid(target: float, steps: list[str]) -> None:
    """Whatever the order, every extra attempt started after `affords(1)` said yes is
    covered by deposits plus the initial balance."""
    budget = LoadBudget(target, max_tokens=3.0)
    admitted = 0
    for step in steps:
        if step == "request":
            budget.open_request()
        elif step == "ask" and budget.affords(1.0):
            budget.spend_extra()
            admitted += 1
    stats = budget.statistics()
    assert admitted <= (target - 1.0) * stats.requests + 3.0 + 1e-6
    assert stats.tokens >= -1e-6

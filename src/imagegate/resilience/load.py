"""`LoadBudget`: keeps the router's upstream attempts per request near a target on average.

Every attempt after a request's first — the next rung after a failure, a retry, a hedge —
is load a struggling provider did not need. A request for 4K in an outage may try a size
that fails half the time; each such try costs, on average, half an extra attempt. The load
budget turns a target such as "at most 1.5 attempts per request" into a running balance::

    request starts:          tokens += target - 1        (tokens - pending capped
                                                          at max_tokens)
    extra attempt starts:    tokens -= 1                 (may go below zero: a request
                                                          is never left without a fallback)
    option with estimated    pending += 1 - p            while the attempt is in flight
      success p starts:
    affords(cost):           tokens - pending >= cost

The admission policy asks `affords(1 - p)` before starting an option that may still step
down (the smallest allowed size is always tried), and a hedge asks `affords(1)`. When the
balance is short, requests start one size down, where answers are likelier, and the
average stays near the target: over a run, ``extra attempts <= (target - 1) · requests +
initial tokens`` plus what the fallbacks of admitted options needed. ``pending`` — the
expected extra attempts of everything still in flight — keeps a burst of requests, which
all ask before any of them has failed, from spending the same tokens many times.

Local to the process, like the `RetryBudget`: it is a ratio of this router's own traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LoadBudget", "LoadBudgetStatistics"]

_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class LoadBudgetStatistics:
    """A snapshot of a `LoadBudget`.

    Attributes:
        tokens: Extra attempts paid for and not yet used (negative: overdrawn).
        pending: Expected extra attempts of the attempts in flight.
        requests: Requests that deposited.
        extra_attempts: Extra attempts started (fallbacks, retries, hedges).
        refused: Options and hedges refused for lack of tokens.
    """

    tokens: float
    pending: float
    requests: int
    extra_attempts: int
    refused: int


class LoadBudget:
    """A running balance of extra upstream attempts (see the module docstring).

    Args:
        max_attempts_per_request: The target average, at least 1.
        max_tokens: The most a quiet stretch may save up (free balance, beyond what
            attempts in flight are expected to need); also the initial balance.

    Raises:
        ValueError: for a target below 1 or a negative bucket.
    """

    __slots__ = (
        "_extra",
        "_pending",
        "_refused",
        "_requests",
        "_tokens",
        "max_attempts_per_request",
        "max_tokens",
    )

    def __init__(self, max_attempts_per_request: float, *, max_tokens: float = 16.0) -> None:
        if not max_attempts_per_request >= 1:
            raise ValueError(
                f"max_attempts_per_request must be at least 1, got {max_attempts_per_request!r}"
            )
        if not max_tokens >= 0:
            raise ValueError(f"max_tokens must not be negative, got {max_tokens!r}")
        self.max_attempts_per_request = float(max_attempts_per_request)
        self.max_tokens = float(max_tokens)
        self._tokens = self.max_tokens
        self._pending = 0.0
        self._requests = 0
        self._extra = 0
        self._refused = 0

    def open_request(self) -> None:
        """A request starts: deposit ``target - 1`` tokens."""
        self._requests += 1
        deposit = self.max_attempts_per_request - 1.0
        # What is committed to attempts in flight is not savings: only the free balance
        # is capped.
        self._tokens = min(self.max_tokens + self._pending, self._tokens + deposit)

    def spend_extra(self) -> None:
        """An extra attempt starts (not the request's first): one token, even on credit."""
        self._extra += 1
        self._tokens -= 1.0

    def affords(self, cost: float) -> bool:
        """Whether ``cost`` expected extra attempts fit in the balance; counts refusals."""
        if self._tokens - self._pending + _EPSILON >= cost:
            return True
        self._refused += 1
        return False

    def commit(self, expected_extra: float) -> float:
        """An attempt starts that causes ``expected_extra`` further attempts on average;
        returns what to pass to `release` when it lands."""
        amount = min(1.0, max(0.0, expected_extra))
        self._pending += amount
        return amount

    def release(self, amount: float) -> None:
        """The attempt that committed ``amount`` landed (or was cancelled)."""
        self._pending = max(0.0, self._pending - amount)

    def statistics(self) -> LoadBudgetStatistics:
        """The balance and what was deposited, spent and refused."""
        return LoadBudgetStatistics(
            tokens=self._tokens,
            pending=self._pending,
            requests=self._requests,
            extra_attempts=self._extra,
            refused=self._refused,
        )

    def __repr__(self) -> str:
        return (
            f"LoadBudget(tokens={self._tokens:.2f}, pending={self._pending:.2f}, "
            f"max_attempts_per_request={self.max_attempts_per_request!r})"
        )

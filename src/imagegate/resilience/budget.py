"""`RetryBudget`: a token bucket that caps retries and hedges at a share of first attempts.

Retrying is what turns a provider's bad minute into an outage: every failed call comes
back two or three times. The budget (Finagle's retry budget, as a token bucket) lets
retries and hedges add at most about ``max_extra_load`` on top of the first attempts::

    tokens(t)  = min(max_tokens, tokens(t0) + min_per_s · (t - t0))   steady refill
    first attempt:   tokens += max_extra_load                        (capped at max_tokens)
    retry or hedge:  allowed iff tokens >= 1, then tokens -= 1

Over a long stretch, ``extra <= max_extra_load · first + min_per_s · elapsed + max_tokens``.
``min_per_s`` is a floor so a quiet router can still retry its rare failures; the cap keeps
a long quiet spell from saving up a burst. When `RetryBudget.try_withdraw` says no, the
router fails over to the next option instead of retrying.

The budget is local to the process on purpose: it is a ratio of this router's own traffic,
so sharing it would cost a round trip per attempt and change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from imagegate.resilience.clock import Clock, LoopClock

__all__ = ["RetryBudget", "RetryBudgetStatistics"]

ExtraKind = Literal["retry", "hedge"]

# Ten deposits of 0.1 sum to 0.9999999999999999; they must still pay for one retry.
_EPSILON = 1e-9


@dataclass(frozen=True, slots=True)
class RetryBudgetStatistics:
    """A snapshot of a `RetryBudget`.

    Attributes:
        tokens: Tokens in the bucket now (each pays for one retry or hedge).
        max_tokens: The bucket's size.
        first_attempts: First attempts deposited.
        retries: Retries allowed.
        hedges: Hedges allowed.
        refused: Retries and hedges refused for lack of tokens.
    """

    tokens: float
    max_tokens: float
    first_attempts: int
    retries: int
    hedges: int
    refused: int


class RetryBudget:
    """Allows retries and hedges worth about ``max_extra_load`` of first attempts.

    Args:
        max_extra_load: Tokens deposited per first attempt (0.1: one retry or hedge per
            ten first attempts).
        min_per_s: Tokens added per clock second regardless of traffic.
        max_tokens: The bucket's size; also its content at creation unless
            ``initial_tokens`` says otherwise.
        initial_tokens: Tokens at creation (default: ``max_tokens``).
        clock: Where time comes from.

    Raises:
        ValueError: for a negative rate or a bucket smaller than one token.
    """

    __slots__ = (
        "_clock",
        "_first_attempts",
        "_hedges",
        "_refused",
        "_retries",
        "_tokens",
        "_updated_at",
        "max_extra_load",
        "max_tokens",
        "min_per_s",
    )

    def __init__(
        self,
        *,
        max_extra_load: float = 0.1,
        min_per_s: float = 0.02,
        max_tokens: float = 10.0,
        initial_tokens: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        if not max_extra_load >= 0:
            raise ValueError(f"max_extra_load must not be negative, got {max_extra_load!r}")
        if not min_per_s >= 0:
            raise ValueError(f"min_per_s must not be negative, got {min_per_s!r}")
        if not max_tokens >= 1:
            raise ValueError(f"max_tokens must be at least 1, got {max_tokens!r}")
        start = max_tokens if initial_tokens is None else initial_tokens
        if not 0 <= start <= max_tokens:
            raise ValueError(f"initial_tokens must be within [0, max_tokens], got {start!r}")
        self.max_extra_load = float(max_extra_load)
        self.min_per_s = float(min_per_s)
        self.max_tokens = float(max_tokens)
        self._clock: Clock = clock or LoopClock()
        self._tokens = float(start)
        self._updated_at = self._clock.now()
        self._first_attempts = 0
        self._retries = 0
        self._hedges = 0
        self._refused = 0

    def _refill(self) -> float:
        now = self._clock.now()
        elapsed = now - self._updated_at
        if elapsed > 0:
            self._tokens = min(self.max_tokens, self._tokens + self.min_per_s * elapsed)
        self._updated_at = max(self._updated_at, now)
        return self._tokens

    @property
    def tokens(self) -> float:
        """Tokens available now."""
        return self._refill()

    def deposit(self) -> None:
        """Record a first attempt: adds ``max_extra_load`` tokens (up to ``max_tokens``)."""
        self._refill()
        self._tokens = min(self.max_tokens, self._tokens + self.max_extra_load)
        self._first_attempts += 1

    def try_withdraw(self, kind: ExtraKind = "retry") -> bool:
        """Pay one token for a retry or a hedge; False (nothing taken) when under one."""
        if self._refill() < 1.0 - _EPSILON:
            self._refused += 1
            return False
        self._tokens = max(0.0, self._tokens - 1.0)
        if kind == "hedge":
            self._hedges += 1
        else:
            self._retries += 1
        return True

    def statistics(self) -> RetryBudgetStatistics:
        """Tokens now and what was deposited, allowed and refused."""
        return RetryBudgetStatistics(
            tokens=self._refill(),
            max_tokens=self.max_tokens,
            first_attempts=self._first_attempts,
            retries=self._retries,
            hedges=self._hedges,
            refused=self._refused,
        )

    def __repr__(self) -> str:
        return (
            f"RetryBudget(tokens={self._refill():.2f}/{self.max_tokens:g}, "
            f"max_extra_load={self.max_extra_load!r}, min_per_s={self.min_per_s!r})"
        )

"""`RetryPolicy`: how many attempts one option gets, and how long to wait between them.

Full-jitter exponential backoff (the AWS "full jitter" scheme, parametrised the way
stamina does). For the ``k``-th retry (``k = 1`` after the first attempt failed)::

    ceiling(k) = min(wait_max_s, wait_initial_s · wait_exp_base ** (k - 1))
    wait(k)    = ceiling(k) · (1 - jitter · U)          U ~ Uniform[0, 1)
    wait(k)    = max(wait(k), error.retry_after_s)      a provider hint is a minimum
    no retry   if error.retry_after_s > max_retry_after_s

so ``(1 - jitter) · ceiling(k) <= wait(k) <= ceiling(k)`` unless the hint is larger.
``jitter=1`` is full jitter (spreads a thundering herd best), ``jitter=0`` is plain
exponential backoff.

No retry (`RetryPolicy.next_wait_s` returns None) when the error is not a retryable
`ProviderError`, the option has used its ``attempts``, the provider's hint exceeds
``max_retry_after_s`` (an upstream cannot park a request for hours, with or without a
deadline: the option is failed over instead), or the wait plus a minimum useful
attempt (``min_attempt_s``) would not fit in what is left of the deadline. The policy
never sleeps: the router sleeps the returned wait on its clock.

A long wait is not spent idle while another option could answer: a retry due in more
than ``failover_after_s`` (a 429 whose RetryInfo says 60 s) is put off, the request moves
on down its ladder, and the router comes back to the retry, at the time it was due, only
if nothing else has delivered by then.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from imagegate.errors import ProviderError

__all__ = ["RetryPolicy"]

_SHARED_RNG = random.Random()


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempts per option and the backoff between them (formula in the module docstring).

    Stateless, so safe to share between routes and requests.

    Args:
        attempts: Attempts per option, the first included (1 = never retry).
        wait_initial_s: Backoff ceiling of the first retry.
        wait_max_s: Largest backoff ceiling (a provider's hint may exceed it).
        wait_exp_base: Growth factor of the ceiling per retry.
        jitter: Share of the ceiling that is randomised, in [0, 1] (1 = full jitter).
        min_attempt_s: Least time an attempt needs to be worth starting; a retry whose
            wait leaves less than this before the deadline is not made.
        failover_after_s: A retry due later than this is put off while another option
            is left to try (see the module docstring); None: always wait for it.
        max_retry_after_s: The longest provider hint (``Retry-After``, RetryInfo) that is
            waited for; a longer one gives the option up, so the request moves on. None
            trusts any hint (the request's deadline still bounds it).
        rng: Source of randomness; pass ``random.Random(seed)`` for reproducible waits.

    Raises:
        ValueError: for an out-of-range parameter.
    """

    attempts: int = 3
    wait_initial_s: float = 1.0
    wait_max_s: float = 30.0
    wait_exp_base: float = 2.0
    jitter: float = 1.0
    min_attempt_s: float = 1.0
    failover_after_s: float | None = 5.0
    max_retry_after_s: float | None = 300.0
    rng: random.Random | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts!r}")
        if not 0 <= self.wait_initial_s <= self.wait_max_s:
            raise ValueError(
                "need 0 <= wait_initial_s <= wait_max_s, got "
                f"wait_initial_s={self.wait_initial_s!r}, wait_max_s={self.wait_max_s!r}"
            )
        if not self.wait_exp_base >= 1:
            raise ValueError(f"wait_exp_base must be at least 1, got {self.wait_exp_base!r}")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be within [0, 1], got {self.jitter!r}")
        if not self.min_attempt_s >= 0:
            raise ValueError(f"min_attempt_s must not be negative, got {self.min_attempt_s!r}")
        if self.max_retry_after_s is not None and not self.max_retry_after_s >= 0:
            raise ValueError(
                f"max_retry_after_s must not be negative, got {self.max_retry_after_s!r}"
            )
        if self.failover_after_s is not None and not self.failover_after_s >= 0:
            raise ValueError(
                f"failover_after_s must not be negative, got {self.failover_after_s!r}"
            )

    def ceiling_s(self, retry: int) -> float:
        """The backoff ceiling of the ``retry``-th retry (1-based), before jitter and hints.

        ``min(wait_max_s, wait_initial_s · wait_exp_base ** (retry - 1))``.
        """
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry!r}")
        try:
            grown = self.wait_initial_s * self.wait_exp_base ** (retry - 1)
        except OverflowError:
            return self.wait_max_s
        return min(self.wait_max_s, grown)

    def is_retryable(self, error: BaseException) -> bool:
        """Whether ``error`` may be retried at all: a `ProviderError` with ``retryable``."""
        return isinstance(error, ProviderError) and error.retryable

    def next_wait_s(
        self,
        attempt: int,
        error: BaseException,
        *,
        remaining_s: float | None,
    ) -> float | None:
        """How long to wait before retrying, or None when the option should not be retried.

        Args:
            attempt: The number of the attempt that just failed (1 = the first).
            error: What it failed with.
            remaining_s: Time left before the request's deadline; None for no deadline.

        Returns:
            The wait in seconds (``wait(attempt)`` from the module docstring), or None
            when the error is not retryable, ``attempt >= attempts``, its hint exceeds
            ``max_retry_after_s``, or ``wait + min_attempt_s > remaining_s``.
        """
        if attempt >= self.attempts or not self.is_retryable(error):
            return None
        hint = getattr(error, "retry_after_s", None)
        cap = self.max_retry_after_s
        if hint is not None and cap is not None and not hint <= cap:  # NaN included
            return None
        u = (self.rng or _SHARED_RNG).random()
        wait = self.ceiling_s(attempt) * (1.0 - self.jitter * u)
        if hint is not None and hint > wait:
            wait = float(hint)
        if remaining_s is not None and wait + self.min_attempt_s > remaining_s:
            return None
        return wait

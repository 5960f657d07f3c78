"""The resilience primitives, one per module, each reading time from an injected clock.

`RetryPolicy` and `RetryBudget` (retry.py, budget.py), `BreakerPolicy` and the breakers
(breaker.py), `RateLimit` and `RateLimiter` (ratelimit.py), `Dispatcher` (dispatcher.py),
`HedgePolicy` (hedge.py), `AttemptTimeoutPolicy` (timeouts.py), `AdmissionPolicy`
(admission.py), `LoadBudget` (load.py), `CostLedger` (ledger.py), `OutcomeWindow`
(stats.py) and the clocks (clock.py). The router composes them; see docs/resilience.md.

The three whose state a fleet can share (breaker, rate limit, ledger) keep their record
and its pure operations in a private module beside them (``_breaker_policy.py``,
``_breaker_ops.py``, ``_ratelimit_ops.py``, ``_ledger_ops.py``), and with it the codec
that runs those operations in Redis (``_breaker_codec.py``, ``_ratelimit_codec.py``,
``_ledger_codec.py``, and their Lua scripts in ``_lua/``), registered with
`imagegate.state.codec.register_codec` when the primitive's module is imported.
"""

from __future__ import annotations

from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import (
    BreakerPermit,
    BreakerPolicy,
    BreakerRegistry,
    BreakerState,
    BreakerStatistics,
    CircuitBreaker,
)
from imagegate.resilience.budget import RetryBudget, RetryBudgetStatistics
from imagegate.resilience.clock import (
    Clock,
    FakeClock,
    LoopClock,
    ScaledClock,
    fail_after,
    move_on_after,
    wall_clock,
)
from imagegate.resilience.dispatcher import (
    Dispatcher,
    DispatcherStatistics,
    DispatchTimeout,
    Slot,
)
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.ledger import CostLedger, Reservation, RouteSpend, Spend
from imagegate.resilience.load import LoadBudget, LoadBudgetStatistics
from imagegate.resilience.ratelimit import QuotaLeft, RateLimit, RateLimiter
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.stats import OutcomeStats, OutcomeWindow
from imagegate.resilience.timeouts import AttemptTimeoutPolicy

__all__ = [
    "AdmissionPolicy",
    "AttemptTimeoutPolicy",
    "BreakerPermit",
    "BreakerPolicy",
    "BreakerRegistry",
    "BreakerState",
    "BreakerStatistics",
    "CircuitBreaker",
    "Clock",
    "CostLedger",
    "DispatchTimeout",
    "Dispatcher",
    "DispatcherStatistics",
    "FakeClock",
    "HedgePolicy",
    "LoadBudget",
    "LoadBudgetStatistics",
    "LoopClock",
    "OutcomeStats",
    "OutcomeWindow",
    "QuotaLeft",
    "RateLimit",
    "RateLimiter",
    "Reservation",
    "RetryBudget",
    "RetryBudgetStatistics",
    "RetryPolicy",
    "RouteSpend",
    "ScaledClock",
    "Slot",
    "Spend",
    "fail_after",
    "move_on_after",
    "wall_clock",
]

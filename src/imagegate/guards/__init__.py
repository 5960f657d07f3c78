"""Guards: the checks every attempt passes, as an ordered pipeline of small policies.

Each guard is one policy with hooks at the points of an attempt's life (`Guard`): a
``peek`` that says why an option cannot be tried now (the reason lands among the skipped
options), the `Booking` it takes at the gate (every guard's booking goes to shared state
in one round trip, and what the others took is handed back when one refuses), and its
``settle`` once the call ended. The built-in pipeline, in order::

    guard             peek: the skip reason          at the gate      after the call
    BreakerGuard      breaker open                   a permit         report the outcome
    AdmissionGuard    estimated success … too low
    LoadBudgetGuard   load budget spent: stepping    (each attempt holds its expected
                      down                            extra attempts until it lands)
    RateLimitGuard    rate limit or quota leaves     a start, and
                      no room before the deadline    its wait
    QuotaGuard                                                        QuotaExhausted: the
                                                                      whole route closes
    LedgerGuard                                      a reservation    settle the cost
    RetryBudgetGuard  (a retry or a hedge spends a token; a first attempt deposits)

The order is the precedence: a peek stops at the first reason, and when several bookings
are refused the first refusal is the one reported (breaker, then rate limit, then budget;
a budget refusal ends the request). A new policy is a new guard: the engine takes extra
guards, asked after the built-in ones, from ``Engine.guards``.
"""

from __future__ import annotations

from imagegate.guards._admission import AdmissionGuard
from imagegate.guards._booking import Booked, Booking, GateRefusal, book
from imagegate.guards._breaker import BreakerGuard, permit_booking
from imagegate.guards._guard import Check, Guard
from imagegate.guards._ledger import LedgerGuard, budget_booking
from imagegate.guards._load import LoadBudgetGuard
from imagegate.guards._pipeline import GuardPipeline
from imagegate.guards._quota import QuotaGuard
from imagegate.guards._ratelimit import RateLimitGuard, rate_booking
from imagegate.guards._retry_budget import RetryBudgetGuard
from imagegate.guards._views import DeadlineView, EngineView, FlightView, RunView

__all__ = [
    "BUILTIN_GUARDS",
    "AdmissionGuard",
    "Booked",
    "Booking",
    "BreakerGuard",
    "Check",
    "DeadlineView",
    "EngineView",
    "FlightView",
    "GateRefusal",
    "Guard",
    "GuardPipeline",
    "LedgerGuard",
    "LoadBudgetGuard",
    "QuotaGuard",
    "RateLimitGuard",
    "RetryBudgetGuard",
    "RunView",
    "book",
    "budget_booking",
    "permit_booking",
    "rate_booking",
]

BUILTIN_GUARDS: tuple[Guard, ...] = (
    BreakerGuard(),
    AdmissionGuard(),
    LoadBudgetGuard(),
    RateLimitGuard(),
    QuotaGuard(),
    LedgerGuard(),
    RetryBudgetGuard(),
)
"""The built-in guards, in pipeline order (see the module docstring)."""

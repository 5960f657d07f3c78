"""The gate's one round trip: every guard's booking applied together, and what the others
took handed back when one refuses.

The bookings are `Step`s applied with `imagegate.state.apply_steps`: one ``apply_many``
per backend, so one round trip to Redis however many guards book. Each operation stays
atomic on its own, so one may refuse while the others book; the gate then hands back what
the others took, in one more round trip::

    breaker refused        → unreserve the rate booking and the budget reservation
    rate limit refused     → release the permit, unreserve the budget reservation
    budget refused         → release the permit, unreserve the rate booking

When several refuse, the first in the pipeline's order is the reason (a breaker that is
open says more about the option than its quota does). Undone bookings leave no trace: the
budget records no attempt, and the rate limit gets its slot back unless another booking
came after it (`RateLimiter.unreserve`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from imagegate.errors import BudgetExceeded
from imagegate.resilience.clock import Clock
from imagegate.state import Step, apply_steps, apply_steps_now

__all__ = [
    "Booked",
    "Booking",
    "GateRefusal",
    "book",
    "book_now",
    "keep_booking",
    "kept_booking",
]

T = TypeVar("T")


def _no_wait(_: object) -> float:
    return 0.0


@dataclass(frozen=True, slots=True)
class GateRefusal:
    """Why the gate refused (nothing is held).

    Attributes:
        reason: What to list among the skipped options.
        error: What ends the request instead (the `BudgetExceeded` of a budget refusal).
    """

    reason: str
    error: BudgetExceeded | None = None


# Booking and Booked are built for every attempt: not frozen, since a frozen dataclass's
# __init__ costs about three times a plain one's.
@dataclass(slots=True)
class Booking(Generic[T]):
    """What a guard takes at the gate.

    Attributes:
        step: The operation, applied together with the other guards' steps.
        refusal: The refusal its result means, or None when it was granted.
        undo: The step that hands a granted result back when another guard refused.
        wait_s: Seconds a granted result asks the call to wait (a rate limit's).
    """

    step: Step[T]
    refusal: Callable[[T], GateRefusal | None]
    undo: Callable[[T], Step[Any]]
    wait_s: Callable[[T], float] = _no_wait


_KEPT_MAX = 256  # steps of replaced policies and varied prices: bounded


def kept_booking(kept: dict[int, Any], step: Step[T]) -> Booking[T] | None:
    """The booking `keep_booking` kept in ``kept`` for ``step`` (this very step), or None.

    ``kept`` is the router's (`EngineView.kept_bookings`): a guard whose steps are kept
    (one per breaker, one per ledger and price) builds the booking around a step once. A
    kept booking holds its step, so that id is not reused while it is kept; it also holds
    its breaker or ledger, which is why the cache is the router's, gone with it.
    """
    booking: Booking[T] | None = kept.get(id(step))
    return booking if booking is not None and booking.step is step else None


def keep_booking(kept: dict[int, Any], booking: Booking[T]) -> Booking[T]:
    """Keep ``booking`` in ``kept`` for its step (never changed once built, so shared)."""
    if len(kept) >= _KEPT_MAX:
        kept.clear()
    kept[id(booking.step)] = booking
    return booking


@dataclass(slots=True)
class Booked:
    """What the gate booked.

    Attributes:
        results: Each booking's result, in order.
        wait_s: Seconds to wait before the call (the longest any booking asks).
    """

    results: list[Any]
    wait_s: float


async def book(bookings: Sequence[Booking[Any]], *, clock: Clock) -> Booked | GateRefusal:
    """Apply every booking in one round trip (see the module docstring).

    Returns:
        What was booked; or the first refusal, once what the others took is handed back.
    """
    results = await apply_steps([b.step for b in bookings], now=clock.now())
    booked = _granted(bookings, results)
    if booked is not None:
        return booked
    refused, undo = _refused(bookings, results)
    await apply_steps(undo, now=clock.now())
    return refused


def book_now(bookings: Sequence[Booking[Any]], *, clock: Clock) -> Booked | GateRefusal | None:
    """`book` at once when every booking's state is a `MemoryState` in this process
    (nothing waits, so no coroutine is paid for); None, with nothing booked, otherwise."""
    now = clock.now()
    results = apply_steps_now([b.step for b in bookings], now=now)
    if results is None:
        return None
    booked = _granted(bookings, results)
    if booked is not None:
        return booked
    refused, undo = _refused(bookings, results)
    apply_steps_now(undo, now=now)
    return refused


def _granted(bookings: Sequence[Booking[Any]], results: list[Any]) -> Booked | None:
    """What was booked when every booking was granted (the longest wait), else None."""
    wait: float | None = None
    for b, result in zip(bookings, results, strict=True):
        if b.refusal(result) is not None:
            return None
        asked = 0.0 if b.wait_s is _no_wait else b.wait_s(result)
        if wait is None or asked > wait:
            wait = asked
    return Booked(results, 0.0 if wait is None else wait)


def _refused(
    bookings: Sequence[Booking[Any]], results: Sequence[Any]
) -> tuple[GateRefusal, list[Step[Any]]]:
    """The first refusal, and the steps that hand back what the other bookings took."""
    refusals = [b.refusal(result) for b, result in zip(bookings, results, strict=True)]
    refused = next(r for r in refusals if r is not None)
    # Only now: making an undo step may mark what it undoes (a reservation) settled.
    undo = [
        b.undo(result)
        for b, result, refusal in zip(bookings, results, refusals, strict=True)
        if refusal is None
    ]
    return refused, undo

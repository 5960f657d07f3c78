"""One attempt, from launch to landing::

    a dispatcher slot         queueing counts against the deadline
    the gate                  every guard's booking, in one round trip (`imagegate.guards`)
    the rate limit's wait     inside the slot, so spacing holds
    the call                  under min(attempt timeout, what is left) (`_call`)
    the record                an `Attempt`; the outcome window; every guard settles

A refusal at the gate skips the option (a budget refusal ends the request). Booking,
settling and handing back are shielded from cancellation, but bounded: an attempt
cancelled while it holds its bookings (a hedge loser, a caller that gave up) hands them
back; one cancelled during its call is recorded as ``cancelled`` and possibly billed.
"""

from __future__ import annotations

import asyncio

import anyio
from anyio.streams.memory import MemoryObjectSendStream

from imagegate._answer import cancelled_attempt, check_response, delivered_tier, record
from imagegate._call import call_adapter
from imagegate._cursor import Start
from imagegate._deadline import out_of_time
from imagegate._events import attempt_ended
from imagegate._flight import Flight, Landing
from imagegate._provider import MAX_REPORTED_COST_PER_IMAGE_USD
from imagegate._run_view import RunView
from imagegate.errors import ContentBlocked, ImageGateError, InvalidRequestError
from imagegate.guards import Booked, GateRefusal
from imagegate.resilience.dispatcher import DispatchTimeout

__all__ = ["AttemptRunner"]

# Real seconds a cancelled attempt may spend recording itself (ledger, breaker).
_CLEANUP_BOUND_S = 5.0


def _bounded_shield() -> anyio.CancelScope:
    """A scope that outside cancellation does not reach, for bookkeeping that must not be
    cut half-way; bounded, so a shared state backend that hangs cannot keep a cancelled
    request alive."""
    now = asyncio.get_running_loop().time()  # anyio's clock on asyncio, read directly
    return anyio.CancelScope(shield=True, deadline=now + _CLEANUP_BOUND_S)


class AttemptRunner:
    """Launches the attempts of one request and runs each to its landing.

    Args:
        run: The request.
    """

    __slots__ = ("_launched", "_run")

    def __init__(self, run: RunView) -> None:
        self._run = run
        self._launched = 0

    def launch(self, start: Start, *, hedging: Flight | None = None) -> Flight:
        """A flight for ``start`` (a hedge of ``hedging``, if given), counted as in
        flight and announced to the guards; `fly` runs it."""
        run, (option, number) = self._run, start
        engine = run.engine
        run.cursor.count(option)
        flight = Flight(
            run,
            option,
            number,
            hedging is not None,
            engine.clock.now(),
            option.capabilities.estimate_cost_usd(
                option.size, run.request.n, input_images=len(run.request.images)
            ),
            extra=self._launched > 0,
        )
        run.guards.launch(flight, hedging)
        self._launched += 1
        # Counted from launch, not from the call, so a burst sees its own attempts.
        engine.in_flight[(option.route.name, option.size)] += 1
        return flight

    async def fly(self, flight: Flight, send: MemoryObjectSendStream[Landing]) -> None:
        """Run ``flight`` and send its landing."""
        await send.send(await self.land(flight))

    async def land(self, flight: Flight) -> Landing:
        """Run ``flight`` to its landing."""
        run = self._run
        engine, guards = run.engine, run.guards
        route = flight.option.route.name
        # A slot free now, and a gate whose bookings all live in this process, are taken
        # at once: no coroutine, no shield, as nothing waits.
        slot = engine.dispatcher.acquire_now(route)
        try:
            if slot is None:
                try:
                    slot = await engine.dispatcher.acquire(route, timeout_s=run.time.remaining())
                except DispatchTimeout:
                    return Landing(
                        flight, skipped="deadline reached while queued", out_of_time=True
                    )
            booked = guards.book_now(flight) if guards.local else None
            if booked is None:
                booked = await self._book(flight)
            if booked is None or isinstance(booked, GateRefusal):
                return _refused(flight, booked)
            flight.taken = booked.results
            if booked.wait_s > 0:  # the rate limit's spacing
                await engine.clock.sleep(booked.wait_s)
            guards.passed(flight)
            return await self._call(flight)
        except anyio.get_cancelled_exc_class():
            # Shielded so the bookkeeping survives the cancellation, but bounded: a shared
            # state backend that hangs must not keep a cancelled request alive.
            with _bounded_shield():
                await self._cancelled(flight)
            raise
        finally:
            if slot is not None:
                slot.release()
            engine.in_flight[(route, flight.option.size)] -= 1
            guards.land(flight)

    async def _book(self, flight: Flight) -> Booked | GateRefusal | None:
        """The gate's bookings in shared state: what was booked, the refusal, or None
        when the shared state did not answer in time."""
        # Shielded: a round trip cancelled half-way may have booked in shared state what
        # this request would never learn of, and so never hand back. Bounded like the
        # cleanup; a pending cancellation lands at the next checkpoint, once what was
        # booked is held in the flight for the handler to return.
        with _bounded_shield():
            return await self._run.guards.book(flight)
        return None  # the shield's deadline passed

    async def _call(self, flight: Flight) -> Landing:
        """Make the call (unless the deadline ran out meanwhile), record it, settle it."""
        run, option = self._run, flight.option
        engine = run.engine
        # One reading of the clock for everything up to the call: nothing waits between.
        now = engine.clock.now()
        remaining = run.time.remaining_at(now)
        if out_of_time(remaining):
            with _bounded_shield():
                await run.guards.release(flight, None, cancelled=False)
            flight.taken = None
            return Landing(flight, skipped="deadline reached", out_of_time=True)
        timeout_s = run.time.attempt_timeout_s(
            option, remaining, now=now, has_fallback=lambda: run.cursor.fallback_after(option)
        )
        flight.called_at = now
        response, error = await call_adapter(flight, timeout_s)
        ended = engine.clock.now()
        delivered = None
        if response is not None:
            delivered = delivered_tier(response)
            error = check_response(response, delivered, run.request, option.route.name, option.size)
            if error is not None:
                response = None
        attempt = record(flight, ended, response, error, delivered)
        if attempt.cost_rejected:
            assert response is not None
            run.log.warning(
                "attempt.cost_rejected",
                route=option.route.name,
                size=option.size,
                reported_cost_usd=repr(response.cost_usd),
                booked_usd=attempt.cost_usd,
                max_per_image_usd=MAX_REPORTED_COST_PER_IMAGE_USD,
            )
        run.attempts.append(attempt)
        attempt_ended(run, option.route, attempt)
        if _is_evidence(error):
            engine.window(option.route.name, option.size).record(
                success=response is not None, latency_s=attempt.duration_s, now=ended
            )
        # Shielded and bounded like the booking: a settlement cut half-way (a caller that
        # gave up, a hedge that lost) would leave shared state booked that no one settles,
        # and the handler of the cancellation must not hand back what was settled.
        pending = run.guards.settle_now(flight, attempt)
        if pending is not None and run.guards.local:
            await pending  # nothing in this process waits: no checkpoint to shield
        elif pending is not None:
            with _bounded_shield():
                await pending
        flight.taken = None
        return Landing(flight, attempt=attempt, response=response)

    async def _cancelled(self, flight: Flight) -> None:
        """Hand back what a cancelled flight booked; record its call if it made one."""
        if flight.taken is None:
            return
        run = self._run
        attempt = None
        if flight.called_at is not None:
            attempt = cancelled_attempt(flight, run.engine.clock.now())
            run.attempts.append(attempt)
            attempt_ended(run, flight.option.route, attempt)
        await run.guards.release(flight, attempt, cancelled=True)


def _refused(flight: Flight, refusal: GateRefusal | None) -> Landing:
    """The landing of a flight the gate refused (None: the shared state did not answer)."""
    if refusal is None:
        return Landing(flight, skipped="shared state did not answer in time")
    if refusal.error is not None:
        return Landing(flight, stop=refusal.error)
    return Landing(flight, skipped=refusal.reason)


_REFUSALS = (ContentBlocked, InvalidRequestError)


def _is_evidence(error: ImageGateError | None) -> bool:
    """Whether an outcome says something about the option's health (a refusal does not)."""
    return error is None or not isinstance(error, _REFUSALS)

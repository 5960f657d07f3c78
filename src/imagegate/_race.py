"""The hedged race: a request's attempts in flight, and what happens when one lands.

The race holds the *main* attempt and, while it is slow, its *hedges* — a smaller image,
or the same size on another route — at most ``HedgePolicy.max_in_flight`` at once, and
reacts to whichever lands first::

    loop:
        nothing in flight?   start the next option (the cursor)
        wait for a landing, or for the main attempt's next hedge timer (`_hedging`; due
                             at once for a request that opens with two, ``race_share``)
        timer fired          start its hedge
        a stop               end the request with it (the budget cap)
        an image             the winner (a smaller hedge's win may wait a grace for the
                             main one)
        anything else        the cursor learns from it; it leaves the race, and when it
                             was the main attempt its oldest hedge becomes the main one

Every attempt runs in the race's task group (a main attempt that was flying before the
race was built, `Adopted`, is waited for there); whatever is still flying when the race
ends is cancelled (and records itself as cancelled, possibly billed).
"""

from __future__ import annotations

import asyncio

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from imagegate._attempt import AttemptRunner
from imagegate._cursor import OptionCursor, Start
from imagegate._flight import Flight, Landing
from imagegate._hedging import Hedging
from imagegate.resilience.clock import Clock, move_on_after

__all__ = ["Adopted", "HedgedRace"]


class Adopted:
    """An attempt flying in a task of its own before any race was built (`imagegate._solo`),
    for a race to take over.

    Args:
        flight: The attempt, launched.
        runner: What runs it.
    """

    __slots__ = ("_scope", "flight", "task")

    def __init__(self, flight: Flight, runner: AttemptRunner) -> None:
        self.flight = flight
        self._scope = anyio.CancelScope()
        self.task = asyncio.get_running_loop().create_task(self._fly(runner))

    async def _fly(self, runner: AttemptRunner) -> Landing | None:
        with self._scope:
            return await runner.land(self.flight)
        return None  # cancelled by `stop`

    def landing(self) -> Landing | None:
        """Its landing, once its task is done (None when it was stopped)."""
        return self.task.result()

    async def stop(self) -> None:
        """Cancel it through its own cancel scope, so its shielded bookkeeping holds, and
        wait until it has recorded itself."""
        self._scope.cancel()
        await asyncio.wait((self.task,))

    def __repr__(self) -> str:
        state = "landed" if self.task.done() else "flying"
        return f"Adopted({self.flight.option.route.name}@{self.flight.option.size}, {state})"


class HedgedRace:
    """Races the attempts of one request until one delivers or nothing is left.

    Args:
        cursor: What the request tries next.
        hedging: When a slow attempt gets a hedge.
        runner: What launches and runs each attempt.
        clock: The engine's clock (the hedge timers).
    """

    __slots__ = ("_clock", "_cursor", "_hedging", "_receive", "_runner", "_send", "_tg")

    _tg: TaskGroup
    _send: MemoryObjectSendStream[Landing]
    _receive: MemoryObjectReceiveStream[Landing]

    def __init__(
        self, cursor: OptionCursor, hedging: Hedging, runner: AttemptRunner, clock: Clock
    ) -> None:
        self._cursor = cursor
        self._hedging = hedging
        self._runner = runner
        self._clock = clock

    async def run(self, adopted: Adopted | None = None) -> Landing | None:
        """The landing that ends the request — an image, or a stop — or None when every
        option is used up. ``adopted``: a main attempt already flying, taken over."""
        send, receive = anyio.create_memory_object_stream[Landing](max_buffer_size=4)
        try:
            async with send, receive, anyio.create_task_group() as tg:
                self._tg, self._send, self._receive = tg, send, receive
                if adopted is not None:
                    tg.start_soon(self._forward, adopted)
                end = await self._race(None if adopted is None else adopted.flight)
                tg.cancel_scope.cancel()
        finally:
            if adopted is not None and not adopted.task.done():
                # The race ended before its forwarder ever ran (cancelled at once).
                with anyio.CancelScope(shield=True):
                    await adopted.stop()
        return end

    async def _forward(self, adopted: Adopted) -> None:
        """Send ``adopted``'s landing like one of the race's own; stop it when the race
        ends first."""
        try:
            await asyncio.wait((adopted.task,))
        except anyio.get_cancelled_exc_class():
            with anyio.CancelScope(shield=True):
                await adopted.stop()
            raise
        landing = adopted.landing()
        if landing is not None:
            await self._send.send(landing)

    async def _race(self, main: Flight | None = None) -> Landing | None:
        cursor, hedging = self._cursor, self._hedging
        flying: list[Flight] = [] if main is None else [main]  # the main one, its hedges
        while True:
            if not flying:
                start = await cursor.next_start()
                if start is None:
                    return None
                flying.append(self._start(start))
            landing = await self._landing(hedging.wait_s(flying))
            if landing is None:  # the hedge timer fired
                flying.extend(self._hedge(flying))
            elif landing.stop is not None:
                return landing
            elif landing.response is not None:
                return await self._grace(landing, flying[0])
            else:
                cursor.absorb(landing)
                flying.remove(landing.flight)

    def _start(self, start: Start, hedging: Flight | None = None) -> Flight:
        """Launch an attempt at ``start`` in the race's task group."""
        flight = self._runner.launch(start, hedging=hedging)
        self._tg.start_soon(self._runner.fly, flight, self._send)
        return flight

    def _hedge(self, flying: list[Flight]) -> list[Flight]:
        """Start the main attempt's hedge, if it gets one."""
        main = flying[0]
        start = self._hedging.fire(main, flying)
        return [] if start is None else [self._start(start, hedging=main)]

    async def _landing(self, timeout_s: float | None) -> Landing | None:
        """The next landing, or None when ``timeout_s`` passes first."""
        async with move_on_after(self._clock, timeout_s):
            return await self._receive.receive()
        return None

    async def _grace(self, win: Landing, main: Flight) -> Landing:
        """prefer="quality": give the larger main attempt a grace to land too."""
        grace_s = self._hedging.grace_s(win.flight, main)
        if grace_s <= 0:
            return win
        late = await self._landing(grace_s)
        if late is not None and late.flight is main and late.response is not None:
            return late
        return win

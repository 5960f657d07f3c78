"""A request's attempts one at a time, without a race, until a hedge must fly.

Most attempts never get a hedge (no hedge policy, a size at or below the hedge size, or
an answer before the hedge delay), so the request runs them in turn, as the race would,
without building one::

    loop:
        the next start (the cursor), or the end: nothing left
        no hedge due      run the attempt here, in the request's own task
        a hedge due       run it in a task of its own and wait for it, or for the timer:
                          the timer fired → `HedgedRace` takes the flight over
        a stop or an image ends the request; anything else, the cursor learns from it

An attempt that runs in the request's own task is cancelled with the request and
records itself as it would in the race. One that the race takes over keeps running in
its task; the race waits for its landing as for any of its own, and cancels it when the
race ends (through the attempt's own cancel scope, so its shielded bookkeeping holds).
"""

from __future__ import annotations

import anyio

from imagegate._attempt import AttemptRunner
from imagegate._cursor import OptionCursor
from imagegate._flight import Landing
from imagegate._hedging import Hedging
from imagegate._race import Adopted, HedgedRace
from imagegate.resilience.clock import Clock, wait_task

__all__ = ["run_solo"]


async def run_solo(
    cursor: OptionCursor, hedging: Hedging, runner: AttemptRunner, clock: Clock
) -> Landing | None:
    """The landing that ends the request — an image, or a stop — or None when every
    option is used up (what `HedgedRace.run` returns, see the module docstring)."""
    while True:
        start = await cursor.next_start()
        if start is None:
            return None
        main = runner.launch(start)
        wait_s = hedging.wait_s((main,))
        if wait_s is None:
            landing = await runner.land(main)
        else:
            adopted = Adopted(main, runner)
            early = await _until_hedge(adopted, wait_s, clock)
            if early is None:  # the timer fired first: a second attempt may fly
                return await HedgedRace(cursor, hedging, runner, clock).run(adopted)
            landing = early
        if landing.stop is not None or landing.response is not None:
            return landing
        cursor.absorb(landing)


async def _until_hedge(adopted: Adopted, wait_s: float, clock: Clock) -> Landing | None:
    """``adopted``'s landing, or None when ``wait_s`` of clock time passes first (the
    flight is then still in the air)."""
    try:
        done = await wait_task(clock, adopted.task, wait_s)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            await adopted.stop()
        raise
    return adopted.landing() if done else None

"""Where time comes from. Every policy reads one injected `Clock`.

Three clocks:

- `LoopClock` (default): the event loop's monotonic clock, real seconds.
- `ScaledClock`: simulated seconds over real time. With ``scale=0.001`` one simulated
  second lasts one real millisecond, so a 600 s outage scenario runs in 0.6 s. The
  simulator and the benchmarks use it; every figure they report is in simulated seconds.
- `FakeClock`: time stands still until a test moves it with `FakeClock.advance`, or, with
  ``autojump=True`` inside ``async with clock:``, jumps to the next sleeper whenever every
  other task is blocked (like trio's ``MockClock(autojump_threshold=0)``). Tests built on it
  never sleep real time.

`move_on_after` and `fail_after` give clock-driven cancel scopes, so attempt timeouts and
deadlines follow whichever clock is injected.

**Wall time.** Daily quotas reset at a wall-clock time (midnight Pacific for Google's), so
the policies that count days (a `RateLimit`'s ``rpd``, a breaker opened until a quota's
``reset_at``, an adapter's reset time) also need the date. A clock may give it with an
optional ``wall()`` method; `wall_clock` returns a clock's ``wall``, or the real UTC time
for clocks without one (the `Clock` protocol does not require it). `LoopClock` reads the
real time; `ScaledClock` and `FakeClock` anchor their wall time once (``start=`` /
``wall_start=``, else the real time when first read) and move it with their own seconds,
so a simulated day ends after 86 400 simulated seconds, whatever the real time of day.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Protocol, runtime_checkable

import anyio

__all__ = [
    "Clock",
    "ClockStatistics",
    "FakeClock",
    "LoopClock",
    "ScaledClock",
    "WallClock",
    "fail_after",
    "move_on_after",
    "wait_task",
    "wall_clock",
]


# Consecutive all-blocked observations before the fake clock believes the loop is idle.
_IDLE_PASSES = 3


@runtime_checkable
class Clock(Protocol):
    """A source of monotonic time in seconds, and a way to wait for it."""

    def now(self) -> float:
        """Current time in (simulated) seconds; only differences are meaningful."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time (returns at once for ``seconds <= 0``)."""
        ...


WallClock = Callable[[], datetime]
"""Returns the wall-clock time (timezone-aware); see `wall_clock`."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def wall_clock(clock: Clock) -> WallClock:
    """The wall time that follows ``clock``: its ``wall`` method if it has one, else the
    real UTC time (``datetime.now(UTC)``), for clocks written before ``wall()`` existed.

    Policies that count days (rate limits' ``rpd``, breakers opened until a quota's
    ``reset_at``, the Gemini and Vertex adapters' daily-quota resets) read this, so on
    simulated time their days end with the simulated ones.
    """
    wall = getattr(clock, "wall", None)
    return wall if callable(wall) else _utc_now


@dataclass(frozen=True, slots=True)
class ClockStatistics:
    """A snapshot of a clock, for ``repr`` and tests."""

    now: float
    sleepers: int


class LoopClock:
    """The running event loop's clock (``loop.time()``), in real seconds.

    ``now()`` reads it: ``time.monotonic``, which is what asyncio's own loops read (and
    what is read outside a running loop, so routers can be built anywhere), or the
    running loop's ``time()`` for another loop (uvloop). Once a read inside one of
    asyncio's own loops has shown that, ``now`` *is* ``time.monotonic``: a request reads
    the clock a dozen times, and a method that asks for the running loop first costs each
    read a few tenths of a microsecond.
    """

    __slots__ = ("now",)

    #: Real seconds per clock second; lets scopes use the loop's own timers.
    scale = 1.0

    def __init__(self) -> None:
        self.now: Callable[[], float] = self._read

    def _read(self) -> float:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not inside a running loop
            return time.monotonic()
        if type(loop).time is asyncio.BaseEventLoop.time:
            self.now = time.monotonic  # every loop of asyncio's own reads this clock
            return time.monotonic()
        return loop.time()

    async def sleep(self, seconds: float) -> None:
        """``anyio.sleep``."""
        await anyio.sleep(max(0.0, seconds))

    def wall(self) -> datetime:
        """The real time, in UTC."""
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "LoopClock()"


class ScaledClock:
    """Simulated seconds that pass ``1 / scale`` times faster than real ones.

    Args:
        scale: Real seconds per simulated second (``0.001``: 1 simulated s = 1 real ms).
        start: The wall-clock time simulated second 0 stands for (the simulator passes
            its scenario's ``start``); None: the real time when the clock is first read.
    """

    __slots__ = ("_origin", "_start", "scale")

    def __init__(self, scale: float = 0.001, *, start: datetime | None = None) -> None:
        if not scale > 0:
            raise ValueError(f"scale must be positive, got {scale!r}")
        self.scale = float(scale)
        self._origin: float | None = None
        self._start = _aware(start) if start is not None else None

    def now(self) -> float:
        """Simulated seconds since the clock was first read."""
        real = anyio.current_time()
        if self._origin is None:
            self._origin = real
        return (real - self._origin) / self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds * scale`` real seconds."""
        await anyio.sleep(max(0.0, seconds) * self.scale)

    def wall(self) -> datetime:
        """``start`` plus the simulated seconds since the clock was first read."""
        elapsed = self.now()
        if self._start is None:
            self._start = datetime.now(UTC) - timedelta(seconds=elapsed)
        return self._start + timedelta(seconds=elapsed)

    def __repr__(self) -> str:
        return f"ScaledClock(scale={self.scale!r})"


class FakeClock:
    """A clock that moves only when told to, for deterministic tests.

    Args:
        start: The initial time.
        autojump: Inside ``async with clock:``, jump to the earliest sleeper whenever all
            other tasks are blocked. Only safe when nothing waits on real I/O.
        wall_start: The wall-clock time ``start`` stands for (naive: UTC); None: the
            real time when the clock is built. `wall` moves from it with the fake time.
    """

    __slots__ = (
        "_autojump", "_counter", "_driver", "_now", "_sleepers", "_start", "_wakeup", "_wall_start",
    )  # fmt: skip

    def __init__(
        self, start: float = 0.0, *, autojump: bool = False, wall_start: datetime | None = None
    ) -> None:
        self._now = self._start = float(start)
        self._wall_start = _aware(wall_start) if wall_start is not None else datetime.now(UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._counter = itertools.count()
        self._autojump = autojump
        self._driver: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None

    def now(self) -> float:
        """The fake time."""
        return self._now

    def wall(self) -> datetime:
        """``wall_start`` plus the fake seconds since ``start``."""
        return self._wall_start + timedelta(seconds=self._now - self._start)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has been advanced by ``seconds``."""
        if seconds <= 0:
            await anyio.lowlevel.checkpoint()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + seconds, next(self._counter), future))
        if self._wakeup is not None:
            self._wakeup.set()
        try:
            await future
        finally:
            if not future.done():
                future.cancel()

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper that is due, earliest first."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        self._now += seconds
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    def next_deadline(self) -> float | None:
        """When the earliest live sleeper is due, or None."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def run_until_idle(self) -> None:
        """Yield until every other task is blocked (deterministic, no real sleeping).

        Idleness must hold for several consecutive passes: a task can look blocked on a
        future whose completion callback is already queued (``gather``, cancel scopes).
        """
        me = asyncio.current_task()
        idle_passes = 0
        while idle_passes < _IDLE_PASSES:
            await asyncio.sleep(0)
            busy = False
            for task in asyncio.all_tasks():
                if task is me or task is self._driver:
                    continue
                waiter = getattr(task, "_fut_waiter", None)
                if waiter is None or waiter.done():
                    busy = True
                    break
            idle_passes = 0 if busy else idle_passes + 1

    async def _drive(self) -> None:
        assert self._wakeup is not None
        while True:
            await self.run_until_idle()
            due = self.next_deadline()
            if due is None:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            self.advance(max(0.0, due - self._now))

    async def __aenter__(self) -> FakeClock:
        if self._autojump:
            self._wakeup = asyncio.Event()
            self._driver = asyncio.get_running_loop().create_task(self._drive())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._driver is not None:
            self._driver.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(self._driver, return_exceptions=True)
            self._driver = None
            self._wakeup = None

    def statistics(self) -> ClockStatistics:
        """Current time and how many tasks are sleeping on this clock."""
        live = sum(not future.done() for *_, future in self._sleepers)
        return ClockStatistics(now=self._now, sleepers=live)

    def __repr__(self) -> str:
        stats = self.statistics()
        return f"FakeClock(now={stats.now!r}, sleepers={stats.sleepers}, autojump={self._autojump})"


def _aware(moment: datetime) -> datetime:
    """``moment`` with a timezone (naive values are taken as UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@asynccontextmanager
async def move_on_after(clock: Clock, seconds: float | None) -> AsyncIterator[anyio.CancelScope]:
    """A cancel scope that is cancelled after ``seconds`` of ``clock`` time.

    Check ``scope.cancelled_caught`` afterwards. ``None`` means no limit. Clocks that
    expose a ``scale`` (real seconds per clock second) use the loop's own timer; others
    (the fake clock) use a watchdog task sleeping on the clock.
    """
    if seconds is None:
        with anyio.CancelScope() as scope:
            yield scope
        return
    scale = getattr(clock, "scale", None)
    if isinstance(scale, float):
        with anyio.move_on_after(max(0.0, seconds) * scale) as scope:
            yield scope
        return
    with anyio.CancelScope() as scope:
        # A plain task, not a task group: a task group would wrap the body's own
        # exceptions in an ExceptionGroup. It is always cancelled and awaited below.
        watchdog = asyncio.get_running_loop().create_task(_cancel_after(clock, seconds, scope))
        try:
            yield scope
        finally:
            watchdog.cancel()
            with anyio.CancelScope(shield=True):
                await asyncio.gather(watchdog, return_exceptions=True)


async def wait_task(clock: Clock, task: asyncio.Task[Any], seconds: float | None) -> bool:
    """Wait until ``task`` is done or ``seconds`` of ``clock`` time pass (None: no limit);
    whether it is done. The task is left running either way.

    A plain wait with a loop timer where `move_on_after` builds a cancel scope: clocks
    with a ``scale`` use the loop's own timer, others (the fake clock) a timer task that
    sleeps on the clock and is cancelled once the wait ends.
    """
    if task.done():  # an eagerly started task may have ended already
        return True
    if seconds is None:
        await asyncio.wait((task,))
        return True
    scale = getattr(clock, "scale", None)
    if isinstance(scale, float):
        await asyncio.wait((task,), timeout=max(0.0, seconds) * scale)
        return task.done()
    timer = asyncio.get_running_loop().create_task(clock.sleep(seconds))
    try:
        await asyncio.wait((task, timer), return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    return task.done()


async def _cancel_after(clock: Clock, seconds: float, scope: anyio.CancelScope) -> None:
    await clock.sleep(seconds)
    scope.cancel()


@asynccontextmanager
async def fail_after(clock: Clock, seconds: float | None) -> AsyncIterator[anyio.CancelScope]:
    """Like `move_on_after`, but raise `TimeoutError` when the time runs out."""
    async with move_on_after(clock, seconds) as scope:
        yield scope
    if scope.cancelled_caught:
        raise TimeoutError(f"timed out after {seconds} s")

"""Virtual time: an event loop whose clock jumps to the next timer when nothing can run.

`VirtualTimeLoop` is an ordinary asyncio selector loop (real sockets, real threads) with
one change: ``loop.time()`` is a virtual clock that stands still while anything can
still happen, and jumps straight to the next timer when nothing can. "Nothing can happen"
means all three of:

- no callback is ready to run;
- no socket is ready (a non-blocking ``select`` finds nothing);
- every executor job (``loop.run_in_executor``, which is how LiteLLM runs its blocking
  Gemini and Vertex calls) is either done, blocked in a socket wait (a poll, or a read or
  write on a socket: on a pipe or a file it waits on work outside the simulated world,
  which holds the clock), or asleep on a lock for more than `_LOCKED_S` (it waits on the
  loop or another thread, not on the GIL).
  On Linux the loop reads each job thread's state and current system call from
  ``/proc``; elsewhere it gives a running job `_GRACE_S` real seconds before it counts as
  waiting (correct, but not load-proof).

So CPU time, garbage-collection pauses and the load of the machine cost zero simulated
seconds: a run lasts as long as its CPU work, not as long as its simulated minutes, and
the same run gives the same times on any machine.

Executor jobs deliver their results only when every job thread is quiet, in the order
the jobs were submitted, so that which thread finishes first in real time cannot change
the order the loop sees results in. Threads started by other means (``anyio.to_thread``)
are not watched: the benchmark only uses them while shutting a contender down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import math
import os
import platform
import selectors
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, Final, TypeVar

__all__ = ["VirtualTimeLoop", "run_virtual"]

_T = TypeVar("_T")
_FileObject = Any
"""What a selector watches: a file descriptor or an object with ``fileno()``."""

_SPIN_S: Final = 0.0001
"""How long the loop first naps (real seconds, releasing the GIL) while a job thread still
runs; each further nap is twice as long, up to `_MAX_SPIN_S`."""

_MAX_SPIN_S: Final = 0.002

_TICKS: Final = 2**20
"""The virtual clock stops only on multiples of 1/`_TICKS` seconds (about a microsecond).

Every time the clock shows is then exact in binary, and so is every difference of two of
them: a duration comes out the same wherever on the clock it happened, so a run's figures
do not depend on where an earlier run (LiteLLM's, whose own timers are not on this clock)
left the clock. Exact up to 2**53 / `_TICKS` seconds (about 272 years)."""

_GRACE_S: Final = 0.005
"""Without ``/proc``: how long a running job may go unseen before it counts as waiting."""

_STUCK_S: Final = 2.0
"""After this long (real seconds) waiting for job threads to go quiet, the loop goes on:
a safety valve against a thread whose wait it cannot classify (a system call it does
not know, or a lock for less than `_LOCKED_S` again and again)."""

# System calls a thread makes when it waits for a socket, per machine architecture.
_WAITING_SYSCALLS: Final[dict[str, frozenset[int]]] = {
    # read write poll select readv sendto recvfrom sendmsg recvmsg connect accept
    # epoll_wait pselect6 ppoll epoll_pwait accept4 epoll_pwait2
    "x86_64": frozenset({0, 1, 7, 23, 19, 44, 45, 46, 47, 42, 43, 232, 270, 271, 281, 288, 441}),
    # epoll_pwait pselect6 ppoll read write readv connect accept sendto recvfrom sendmsg
    # recvmsg accept4 epoll_pwait2
    "aarch64": frozenset({22, 72, 73, 63, 64, 65, 203, 202, 206, 207, 211, 212, 242, 441}),
}


# Of those, the ones whose first argument is the file descriptor waited on: they count as
# a wait only on a socket. A job reading a pipe or a file waits on work done outside the
# simulated world (the OpenAI SDK reads `uname -p` from a child process on a client's
# first request, through `platform.platform()`), which, like CPU work, costs no simulated
# time: the clock holds.
_FD_SYSCALLS: Final[dict[str, frozenset[int]]] = {
    # read write readv connect accept sendto recvfrom sendmsg recvmsg accept4
    "x86_64": frozenset({0, 1, 19, 42, 43, 44, 45, 46, 47, 288}),
    # read write readv accept connect sendto recvfrom sendmsg recvmsg accept4
    "aarch64": frozenset({63, 64, 65, 202, 203, 206, 207, 211, 212, 242}),
}


# The system call a thread sleeps in when it waits on a lock or a condition (futex).
_LOCK_SYSCALLS: Final[dict[str, frozenset[int]]] = {
    "x86_64": frozenset({202}),
    "aarch64": frozenset({98}),
}

_LOCKED_S: Final = 0.05
"""A job thread asleep on a lock this long (real seconds, while the loop naps) counts as
waiting: it is not after the GIL, which a waiting thread gets within the interpreter's
switch interval (5 ms), but on something another thread or the loop must do first — LiteLLM
threads block this way on work they handed to the loop. Without this rule the loop held
the clock for `_STUCK_S` each time, and one run of LiteLLM took minutes instead of one."""


def _asleep_in(tid: int) -> tuple[int, int] | None:
    """The system call thread ``tid`` sleeps in and its first argument; (-1, 0) when it
    runs (or moved while we looked: ask again later), None when ``/proc`` cannot tell."""
    base = f"/proc/self/task/{tid}"
    try:
        state = _state(base)
        if state not in (b"S", b"D"):
            return -1, 0
        with open(f"{base}/syscall", "rb") as f:
            fields = f.read().split(maxsplit=2)
        if _state(base) != state:
            return -1, 0
        call = int(fields[0]) if fields[0].isdigit() else -1
        first = int(fields[1], 16) if len(fields) > 1 and fields[1].startswith(b"0x") else -1
    except (OSError, IndexError, ValueError):
        return None
    return call, first


def _is_socket(fd: int) -> bool:
    """Whether ``fd`` of this process is a socket (not a pipe, a file or a device)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    except OSError:
        return False


def _state(base: str) -> bytes:
    """The one-letter scheduler state in ``<base>/stat`` (R running, S sleeping …)."""
    with open(f"{base}/stat", "rb") as f:
        return f.read().rpartition(b")")[2].split(maxsplit=1)[0]


class _Job:
    """One ``run_in_executor`` call, followed from submission to delivery."""

    __slots__ = ("error", "executor", "future", "inner", "result", "seq", "state", "tid")

    QUEUED: Final = 0
    RUNNING: Final = 1
    FINISHED: Final = 2

    def __init__(self, seq: int, executor: concurrent.futures.Executor, future: Any) -> None:
        self.seq = seq
        self.executor = executor
        self.future: asyncio.Future[Any] = future
        self.inner: concurrent.futures.Future[None] | None = None
        self.state = _Job.QUEUED
        self.tid = 0
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self, func: Callable[..., Any], *args: Any) -> None:
        self.tid = threading.get_native_id()
        self.state = _Job.RUNNING
        try:
            self.result = func(*args)
        except BaseException as exc:  # delivered to the caller, like run_in_executor does
            self.error = exc
        finally:
            self.state = _Job.FINISHED

    def deliver(self) -> None:
        if self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.result)
        self.error = None


class _VirtualSelector(selectors.BaseSelector):
    """The loop's selector: polls without blocking, and moves virtual time instead.

    Everything but `select` is the real selector's."""

    def __init__(self, inner: selectors.BaseSelector, loop: VirtualTimeLoop) -> None:
        self._inner = inner
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        loop = self._loop
        while True:
            delivered = loop._settle()
            events = self._inner.select(0)
            if events or delivered or timeout == 0:
                return events
            if timeout is None:
                if not loop._jobs:
                    return self._inner.select(None)  # nothing to wait for but the outside
                events = self._inner.select(_SPIN_S)  # a job waits on the outside world
                if events:
                    return events
                continue
            loop._advance(timeout)
            return events

    def register(
        self, fileobj: _FileObject, events: int, data: Any = None
    ) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: _FileObject) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: _FileObject, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def get_key(self, fileobj: _FileObject) -> selectors.SelectorKey:
        return self._inner.get_key(fileobj)

    def get_map(self) -> Mapping[_FileObject, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop on virtual time (see the module docstring).

    ``loop.time()`` starts at 0 and only moves when nothing is left to run, to the time of
    the next timer. ``asyncio.sleep``, ``call_later``, ``wait_for``, anyio's and aiohttp's
    timeouts all follow it.
    """

    def __init__(self) -> None:
        super().__init__()
        self._virtual_now = 0.0
        self._jobs: list[_Job] = []
        self._job_seq = itertools.count()
        self._last_busy: _Job | None = None
        self._syscalls = _WAITING_SYSCALLS.get(platform.machine())
        self._locks = _LOCK_SYSCALLS.get(platform.machine())
        self._fd_calls = _FD_SYSCALLS.get(platform.machine(), frozenset())
        inner: selectors.BaseSelector = self._selector  # type: ignore[has-type]
        self._selector = _VirtualSelector(inner, self)

    def time(self) -> float:
        """Virtual seconds since the loop was made (a multiple of 1/`_TICKS`)."""
        return self._virtual_now

    def _advance(self, timeout: float) -> None:
        scheduled: list[asyncio.TimerHandle] = self._scheduled  # type: ignore[attr-defined]
        target = scheduled[0].when() if scheduled else self._virtual_now + timeout
        self._virtual_now = max(self._virtual_now, math.ceil(target * _TICKS) / _TICKS)

    def run_in_executor(  # type: ignore[override]
        self, executor: concurrent.futures.Executor | None, func: Callable[..., _T], *args: Any
    ) -> asyncio.Future[_T]:
        """Run ``func(*args)`` in ``executor`` (the default one if None); its result reaches
        the loop only once every job thread is quiet, in submission order."""
        self._check_closed()  # type: ignore[attr-defined]
        if executor is None:
            executor = self._default_executor  # type: ignore[has-type]
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        future: asyncio.Future[_T] = self.create_future()
        job = _Job(next(self._job_seq), executor, future)
        job.inner = executor.submit(job.run, func, *args)
        self._jobs.append(job)
        future.add_done_callback(lambda f: _cancel_inner(f, job))
        return future

    def _settle(self) -> bool:
        """Wait until no job thread runs; deliver finished jobs in order. True if any was."""
        waited_since = time.perf_counter()
        nap = _SPIN_S
        while self._jobs and self._busy(time.perf_counter() - waited_since):
            if time.perf_counter() - waited_since > _STUCK_S:
                break  # a thread waits on something the loop cannot see (a lock)
            time.sleep(nap)
            nap = min(2 * nap, _MAX_SPIN_S)
        finished = [job for job in self._jobs if job.state == _Job.FINISHED or _dropped(job)]
        if not finished:
            return False
        self._jobs = [job for job in self._jobs if job not in finished]
        delivered = False
        for job in finished:
            if job.state == _Job.FINISHED and not job.future.done():
                job.deliver()
                delivered = True
        return delivered

    def _busy(self, waited_s: float) -> bool:
        # The job found running last time is asked first: it is likely still running.
        last = self._last_busy
        if last is not None and last.state == _Job.RUNNING and not self._waiting(last, waited_s):
            return True
        running: dict[int, int] = {}
        for job in self._jobs:
            if job.state == _Job.RUNNING:
                running[id(job.executor)] = running.get(id(job.executor), 0) + 1
                if job is not last and not self._waiting(job, waited_s):
                    self._last_busy = job
                    return True
        for job in self._jobs:
            if job.state == _Job.QUEUED and not _dropped(job):
                capacity = getattr(job.executor, "_max_workers", 1)
                if running.get(id(job.executor), 0) < capacity:
                    return True  # a free worker is about to start it
        return False

    def _waiting(self, job: _Job, waited_s: float) -> bool:
        """Whether ``job``'s thread waits: in a socket wait, or on a lock for longer than
        `_LOCKED_S`; without ``/proc``, once unseen for `_GRACE_S`."""
        asleep = None if self._syscalls is None else _asleep_in(job.tid)
        if asleep is None:
            return waited_s > _GRACE_S
        call, first = asleep
        if self._syscalls is not None and call in self._syscalls:
            return call not in self._fd_calls or _is_socket(first)
        return waited_s > _LOCKED_S and self._locks is not None and call in self._locks


def _dropped(job: _Job) -> bool:
    return job.state == _Job.QUEUED and job.inner is not None and job.inner.cancelled()


def _cancel_inner(future: asyncio.Future[Any], job: _Job) -> None:
    if future.cancelled() and job.inner is not None:
        job.inner.cancel()


def run_virtual(main: Coroutine[Any, Any, _T]) -> _T:
    """``asyncio.run(main)`` on a fresh `VirtualTimeLoop`."""
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main)

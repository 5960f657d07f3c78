"""A contender run in a process of its own, beside the ones the demo runs in-process.

LiteLLM takes seconds of CPU to import and tens of milliseconds per call; in the demo's
process it would double the demo's wall time. In a second process it uses the machine's
other core while the demo runs the rest. The figures do not change: every contender
runs alone on its own simulator and clock (virtual time by default), and its simulated
seconds do not depend on which process spends the CPU::

    apart = Apart("litellm", config, progress)     # starts the process at once
    ...                                            # run the others
    run = await apart.result()                     # its ContenderRun, records and events

The child is a fresh interpreter running `child_main` (never a copy of a process that
holds a running event loop, and never a re-run of the caller's script). It reads the
contender's name and the configuration from its standard input and writes one pickled
message per event on its standard output: the contender started, each request ended,
then its run. A thread of this process reads them and hands them to the event loop
(`loop.call_soon_threadsafe`): no timer is added to the loop, so nothing moves on the
simulated clock of the contenders running here. What the child prints goes to a
temporary file, whose end is quoted if the child fails.
"""

from __future__ import annotations

import asyncio
import gc
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from typing import IO, Any, Final

from imagegate.bench._config import BenchConfig
from imagegate.bench._runner import ContenderRun, Progress, requests_for, run_contender, warm_up
from imagegate.bench._virtual import run_virtual
from imagegate.errors import ImageGateError

__all__ = ["Apart", "ApartFailed", "child_main"]

_CHILD: Final = "from imagegate.bench._apart import child_main; child_main()"

_STOP_S: Final = 2.0
"""How long (real seconds) a child asked to stop may take before it is killed."""


class ApartFailed(ImageGateError):
    """The contender's process failed or ended without its figures."""


class Apart:
    """Runs contender ``name`` of ``config`` (its first scenario) in a child process.

    Args:
        name: The contender.
        config: The run's configuration (its first scenario is played).
        progress: Told when the child starts and ends each request; called on the event
            loop that created this object.
    """

    def __init__(self, name: str, config: BenchConfig, progress: Progress) -> None:
        self.name = name
        self._progress = progress
        self._loop = asyncio.get_running_loop()
        self._done: asyncio.Future[ContenderRun] = self._loop.create_future()
        self._printed = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        # The child finds imagegate where this process did (a checkout, a test's path).
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self._process = subprocess.Popen(
            [sys.executable, "-c", _CHILD],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._printed,
            env=env,
        )
        assert self._process.stdin is not None
        with self._process.stdin as ask:
            pickle.dump((name, config), ask)
        self._reader = threading.Thread(target=self._read, name=f"read-{name}", daemon=True)
        self._reader.start()

    async def result(self) -> ContenderRun:
        """The contender's run, once the child has finished it.

        Raises:
            ApartFailed: the child failed or died first.
        """
        try:
            return await self._done
        finally:
            self.stop()

    def stop(self) -> None:
        """End the child if it still runs (the demo was interrupted); idempotent. Call it
        on the event loop's thread."""
        if not self._done.done():
            self._done.cancel()  # nobody will wait for it
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=_STOP_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._reader.join(timeout=_STOP_S)
        self._printed.close()

    def _read(self) -> None:
        """In the reading thread: hand every message to the loop, then the end."""
        assert self._process.stdout is not None
        with self._process.stdout as messages:
            while True:
                try:
                    kind, payload = pickle.load(messages)
                except (EOFError, OSError, pickle.UnpicklingError):
                    kind, payload = "failed", None
                if not self._hand_over(kind, payload) or kind in ("done", "failed"):
                    return

    def _hand_over(self, kind: str, payload: Any) -> bool:
        try:
            self._loop.call_soon_threadsafe(self._deliver, kind, payload)
        except RuntimeError:  # the loop is closed: nobody waits any more
            return False
        return True

    def _deliver(self, kind: str, payload: Any) -> None:
        """On the loop: pass a message on to the progress display or the result."""
        if kind == "record":
            self._progress.request_done(*payload)
        elif kind == "started":
            self._progress.contender_started(*payload)
        elif self._done.done():
            return
        elif kind == "done":
            self._done.set_result(payload)
        else:
            why = payload or f"its process ended ({self._process.wait()}): {self._tail()}"
            self._done.set_exception(ApartFailed(f"{self.name} could not run: {why}"))

    def _tail(self) -> str:
        """The last line the child printed (its error, when it crashed)."""
        try:
            self._printed.seek(0)
            lines = self._printed.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return "nothing printed"
        return lines[-1][:300] if lines else "nothing printed"


class _Forward:
    """The child's `Progress`: every event is written for the parent."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def put(self, message: tuple[str, Any]) -> None:
        pickle.dump(message, self._out)
        self._out.flush()

    def contender_started(self, scenario: str, contender: str, total: int) -> None:
        self.put(("started", (scenario, contender, total)))

    def request_done(self, scenario: str, contender: str, record: Any) -> None:
        self.put(("record", (scenario, contender, record)))

    def contender_done(self, scenario: str, contender: str, metrics: Any) -> None:
        pass


def child_main() -> None:
    """The child process: read what to run, run it, write the messages (see the module
    docstring). Anything printed goes to standard error, never among the messages."""
    # A short-lived process: the cyclic garbage collector would only slow down its imports
    # (LiteLLM's take seconds) and calls; what it holds is freed when it exits.
    gc.disable()
    name, config = pickle.load(sys.stdin.buffer)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    forward = _Forward(out)
    try:
        main = _play(name, config, forward)
        run = run_virtual(main) if config.virtual else asyncio.run(main)
    except Exception as exc:  # reported to the parent, which goes on without it
        forward.put(("failed", f"{type(exc).__name__}: {exc}"[:300]))
    else:
        forward.put(("done", run))
    finally:
        out.close()


async def _play(name: str, config: BenchConfig, progress: Progress) -> ContenderRun:
    await warm_up(config, (name,))
    return await run_contender(name, config.scenarios[0], requests_for(config), config, progress)

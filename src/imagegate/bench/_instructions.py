"""Instructions per request through the router, counted by valgrind's callgrind: the
overhead figure that neither the machine's load nor its speed moves.

`imagegate.bench._overhead` times the router in CPU µs, which drift by several percent
within a day on a shared machine. Here each (size, way) runs in a child process under
``valgrind --tool=callgrind --instr-atstart=no``: it imports, builds the null provider
and a router with default policies, and makes ``warmup`` calls uninstrumented; then the
instrumentation is switched on (``callgrind_control -i on``), the child makes
``requests`` calls the same way (the provider directly, or through ``Router.generate``)
and the instrumentation is switched off again before the child exits. Callgrind's count
of the instructions executed in between, per call, is the figure; the router's overhead
is its count less the direct call's. Runs are repeatable to well under 0.1% with
``PYTHONHASHSEED=0`` (set for the children) and the router's seed.

An instruction is not a µs (how many a CPU retires per µs depends on the CPU and on
its caches), so the µs of `imagegate.bench._overhead` stay the target's unit; this is
what to compare two commits with on a busy machine.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from dataclasses import asdict, dataclass
from typing import Any, Final, Literal

import anyio

from imagegate._request import Size
from imagegate.bench._deps import MissingDependency

__all__ = ["InstructionsResult", "count_instructions"]

Way = Literal["direct", "router"]

_COLLECTED: Final = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)
_CHILD: Final = "from imagegate.bench._instructions import _child; _child()"
_STEP_TIMEOUT_S: Final = 600.0  # the child's imports and calls under valgrind, generously


@dataclass(frozen=True, slots=True)
class InstructionsResult:
    """Instructions per request for one tier.

    Attributes:
        size: The tier requested.
        requests: Calls counted per way.
        direct: Instructions per direct ``provider.generate`` call.
        router: Instructions per ``router.generate`` call.
        overhead: ``router - direct``: the router's own instructions per request.
    """

    size: Size
    requests: int
    direct: float
    router: float

    @property
    def overhead(self) -> float:
        """The router's own instructions per request."""
        return self.router - self.direct

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {**asdict(self), "overhead": self.overhead}


def valgrind_tools() -> tuple[str, str]:
    """The paths of ``valgrind`` and ``callgrind_control``.

    Raises:
        MissingDependency: either is not on the PATH (the message says how to get it).
    """
    valgrind, control = shutil.which("valgrind"), shutil.which("callgrind_control")
    if valgrind is None or control is None:
        raise MissingDependency(
            "--measure instructions needs valgrind (valgrind and callgrind_control on the "
            "PATH): install it with your system's packages, e.g. 'apt install valgrind'"
        )
    return valgrind, control


async def count_instructions(
    *,
    requests: int = 2_000,
    warmup: int = 200,
    sizes: tuple[Size, ...] = ("1K", "4K"),
    jobs: int = 2,
) -> list[InstructionsResult]:
    """Count the instructions per call of each tier, directly and through the router
    (see the module docstring), ``jobs`` children at once."""
    if requests < 1 or warmup < 0 or jobs < 1:
        raise ValueError("requests and jobs must be at least 1, warmup not negative")
    tools = valgrind_tools()
    counts: dict[tuple[Size, Way], int] = {}
    limit = anyio.CapacityLimiter(jobs)

    async def one(size: Size, way: Way) -> None:
        async with limit:
            counts[(size, way)] = await _run_child(tools, way, size, requests, warmup)

    async with anyio.create_task_group() as tg:
        for size in sizes:
            for way in ("direct", "router"):
                tg.start_soon(one, size, way)
    return [
        InstructionsResult(
            size, requests, counts[(size, "direct")] / requests, counts[(size, "router")] / requests
        )
        for size in sizes
    ]


async def _run_child(
    tools: tuple[str, str], way: Way, size: Size, requests: int, warmup: int
) -> int:
    """The instructions ``requests`` calls of ``way`` took in a child under callgrind."""
    valgrind, control = tools
    command = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=/dev/null"]
    arguments = [sys.executable, "-c", _CHILD, way, size, str(requests), str(warmup)]
    child = await asyncio.create_subprocess_exec(
        *command, *arguments,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    assert child.stdin is not None
    assert child.stdout is not None
    assert child.stderr is not None
    stderr = asyncio.ensure_future(child.stderr.read())
    try:
        with anyio.fail_after(_STEP_TIMEOUT_S):
            await _expect(child.stdout, "ready")
            await _instrument(control, child.pid, "on")
            child.stdin.write(b"go\n")
            await child.stdin.drain()
            await _expect(child.stdout, "done")
            await _instrument(control, child.pid, "off")
            child.stdin.write(b"exit\n")
            await child.stdin.drain()
            status = await child.wait()
            text = (await stderr).decode(errors="replace")
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        stderr.cancel()
    found = _COLLECTED.search(text)
    if status != 0 or found is None:
        raise RuntimeError(f"the {way} {size} child under callgrind failed: {text[-2000:]}")
    return int(found.group(1))


async def _expect(stdout: asyncio.StreamReader, word: str) -> None:
    line = (await stdout.readline()).decode(errors="replace").strip()
    if line != word:
        raise RuntimeError(f"the child under callgrind said {line!r}, not {word!r}")


async def _instrument(control: str, pid: int, state: Literal["on", "off"]) -> None:
    """Switch callgrind's instrumentation of ``pid`` ``state`` (``callgrind_control``)."""
    process = await asyncio.create_subprocess_exec(
        control, "-i", state, str(pid),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await process.communicate()
    if process.returncode != 0 or b"OK" not in output:
        raise RuntimeError(f"callgrind_control -i {state} failed: {output.decode()[-500:]}")


def _child() -> None:
    """The child's side: ``WAY SIZE REQUESTS WARMUP`` from its arguments; ``ready``,
    then the counted calls on ``go``, ``done``, and the exit on ``exit``."""
    way, size, requests, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    asyncio.run(_calls(way, size, requests, warmup))


async def _calls(way: str, size: str, requests: int, warmup: int) -> None:
    from imagegate._provider import ProviderRequest
    from imagegate._route import Route
    from imagegate._router import Router
    from imagegate.bench._overhead import NullProvider

    provider = NullProvider()
    async with Router([Route(provider, model="null")], seed=0) as router:
        call = ProviderRequest("p", "null", size)  # type: ignore[arg-type]

        async def one(i: int) -> object:
            if way == "direct":
                return await provider.generate(call)
            return await router.generate(f"p{i}", size=size)  # type: ignore[arg-type]

        for i in range(warmup):
            await one(i)
        _say("ready")
        sys.stdin.readline()  # "go": instrumented from here
        for i in range(requests):
            await one(warmup + i)
        _say("done")
        sys.stdin.readline()  # "exit": no longer instrumented


def _say(word: str) -> None:
    sys.stdout.write(word + "\n")
    sys.stdout.flush()

"""A simulator in a child process, for measurements where the client must be alone.

Throughput and memory are measured on the client side; with the server in the same
process its own CPU time and its cached images would be counted too. `SimulatorProcess`
starts ``python -m imagegate.bench._serve`` with a scenario (serialised as JSON), reads
the URLs and keys it prints once listening, and stops it on exit::

    async with SimulatorProcess(scenario, payload="realistic") as server:
        server.base_urls["gemini"], server.keys["gemini"]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from types import TracebackType

from imagegate.testing._images import Payload
from imagegate.testing.simulator import (
    PROVIDERS,
    Latency,
    Profile,
    Scenario,
    Simulator,
)

__all__ = ["SimulatorProcess", "fixed_latency_scenario"]


def fixed_latency_scenario(latency_s: float = 0.0, *, name: str = "zero-latency") -> Scenario:
    """Every provider answers every call with success after exactly ``latency_s``."""
    return Scenario(
        name=name,
        description="Every call succeeds after a fixed latency; for measuring clients.",
        markers=False,
        profiles=tuple(
            Profile(
                provider=provider,
                latency_s=Latency(fixed=latency_s),
                fail_latency_s=Latency(fixed=latency_s),
                outcomes={"success": 1.0},
            )
            for provider in PROVIDERS
        ),
    )


class SimulatorProcess:
    """A `Simulator` running in a child process (see the module docstring).

    Args:
        scenario: What it plays.
        time_scale: Real seconds per simulated second.
        payload: ``"small"`` or ``"realistic"`` images.
    """

    __slots__ = ("_args", "_process", "base_urls", "keys")

    def __init__(
        self, scenario: Scenario, *, time_scale: float = 1.0, payload: Payload = "small"
    ) -> None:
        self._args = [
            "--scenario-json",
            scenario.model_dump_json(),
            "--time-scale",
            repr(time_scale),
            "--payload",
            payload,
        ]
        self._process: asyncio.subprocess.Process | None = None
        self.base_urls: dict[str, str] = {}
        self.keys: dict[str, str] = {}

    async def __aenter__(self) -> SimulatorProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "imagegate.bench._serve",
            *self._args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        self._process = process
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        if not line:
            await self.__aexit__(None, None, None)
            raise RuntimeError("the simulator process exited before listening")
        announced = json.loads(line)
        self.base_urls = announced["base_urls"]
        self.keys = announced["keys"]
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the child exits when its stdin closes
        try:
            await asyncio.wait_for(process.wait(), timeout=10)
        except TimeoutError:
            process.kill()
            await process.wait()


async def _serve(scenario: Scenario, time_scale: float, payload: Payload) -> None:
    async with Simulator(scenario, time_scale=time_scale, payload=payload) as sim:
        announced = {
            "base_urls": {p: sim.base_url(p) for p in PROVIDERS},
            "keys": {p: sim.api_key(p) for p in PROVIDERS},
        }
        print(json.dumps(announced), flush=True)
        loop = asyncio.get_running_loop()
        # Serve until the parent closes our stdin (or goes away).
        await loop.run_in_executor(None, sys.stdin.read)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the child process."""
    parser = argparse.ArgumentParser(prog="python -m imagegate.bench._serve")
    parser.add_argument("--scenario-json", required=True)
    parser.add_argument("--time-scale", type=float, default=1.0)
    parser.add_argument("--payload", choices=("small", "realistic"), default="small")
    args = parser.parse_args(argv)
    scenario = Scenario.model_validate_json(args.scenario_json)
    asyncio.run(_serve(scenario, args.time_scale, args.payload))


if __name__ == "__main__":
    main()

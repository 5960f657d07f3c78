"""Added latency per routing decision with `RedisState` on loopback (target:
≤ 1 ms at p99; docs/scaling.md), measured, never asserted.

A routing decision is what the router asks its shared state before an attempt: the
breaker permit (`BreakerAcquire`), the rate limit (`RateReserve`) and the budget
reservation (`LedgerReserve`); after the attempt it reports back (`BreakerReport`,
`LedgerSettle`). Every workload runs once on `MemoryState` and once on `RedisState`, and
the difference of the percentiles is what Redis adds. Four workloads:

- ``decision``: the gate as the engine takes it (``imagegate._gate.pass_gate``): the
  three gating operations in one ``apply_many``, so one round trip;
- ``sequential``: the same three operations one after the other (three round trips, how
  the engine took them before the gate), for comparison;
- ``report``: the two reporting operations after the attempt;
- ``generate``: a whole ``Router.generate`` on a `FakeProvider` that answers at once.

Starts its own ``redis-server`` on a free loopback port unless ``--url`` is given.
``--parser python`` makes redis-py use its pure-Python reply parser even when ``hiredis``
is installed (what a worker without hiredis gets). Run::

    python benchmarks/redis_latency.py [--decisions 5000] [--parser auto|python]
                                       [--url redis://127.0.0.1:6379/0]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from imagegate import Route, Router
from imagegate._gate import GatePass, pass_gate
from imagegate.resilience.breaker import CircuitBreaker
from imagegate.resilience.clock import LoopClock
from imagegate.resilience.ledger import CostLedger
from imagegate.resilience.ratelimit import RateLimit, RateLimiter
from imagegate.state import MemoryState, RedisState, StateBackend

WORKLOADS = ("decision", "sequential", "report", "generate")


@contextmanager
def redis_server() -> Iterator[str]:
    """A throw-away redis-server on a free loopback port; yields its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server not found: apt-get install -y redis-server, or --url")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as workdir:
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        args += ["--appendonly", "no", "--dir", workdir]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(500):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
                    break
                except OSError:
                    time.sleep(0.01)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait()


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0–1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def timed(n: int, step: Callable[[], Awaitable[object]]) -> list[float]:
    """Seconds per call of ``step``, ``n`` times (after 200 warm-up calls)."""
    for _ in range(200):
        await step()
    out = []
    for _ in range(n):
        start = time.perf_counter()
        await step()
        out.append(time.perf_counter() - start)
    return out


async def measure(backend: StateBackend, n: int) -> dict[str, list[float]]:
    """Per-call durations of the three workloads on ``backend``."""
    breaker = CircuitBreaker("gemini", "1K", backend=backend)
    # Generous limits: every reservation succeeds at once, as on a healthy route.
    limiter = RateLimiter("project", RateLimit(rpm=10**6, ipm=10**6), backend=backend)
    ledger = CostLedger(limit_usd=10**9, backend=backend)

    clock = LoopClock()

    async def gate() -> None:
        passed = await pass_gate(
            breaker,
            limiter,
            ledger,
            n=1,
            max_wait_s=60.0,
            estimate_usd=0.04,
            route="gemini",
            size="1K",
            clock=clock,
        )
        assert isinstance(passed, GatePass)

    async def sequential() -> None:
        permit = await breaker.try_acquire()
        assert permit is not None
        await limiter.reserve(1, max_wait_s=60.0)
        await ledger.reserve(0.04, route="gemini", size="1K")

    async def report() -> None:
        permit = await breaker.try_acquire()
        assert permit is not None
        reservation = await ledger.reserve(0.04, route="gemini", size="1K")
        start = time.perf_counter()
        await breaker.record_success(permit, duration_s=0.0)
        await ledger.settle(reservation, 0.04, "billed")
        reports.append(time.perf_counter() - start)

    reports: list[float] = []
    router = Router(
        [Route("fake", model="fake-image", rate_limit=RateLimit(rpm=10**6))],
        state=backend,
        budget_usd=10**9,
        hedge=None,
    )
    async with router:
        generate = await timed(n, lambda: router.generate("a lighthouse"))
    # Interleaved, so that a busy spell of the machine hits both alike.
    gates, sequentials = [], []
    for _ in range(5):
        gates += await timed(n // 5, gate)
        sequentials += await timed(n // 5, sequential)
    await timed(n, report)
    return {
        "decision": gates,
        "sequential": sequentials,
        "report": reports[200:],
        "generate": generate,
    }


@asynccontextmanager
async def shared_state(url: str, parser: str) -> AsyncIterator[RedisState]:
    """A `RedisState` on ``url`` with its own prefix; ``parser="python"`` forces redis-py's
    pure-Python reply parser."""
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    if parser == "auto":
        async with RedisState(url, prefix=prefix) as state:
            yield state
        return
    import redis.asyncio as aioredis
    from redis._parsers import _AsyncRESP2Parser

    client: Any = aioredis.Redis.from_url(
        url, decode_responses=True, parser_class=_AsyncRESP2Parser, socket_timeout=0.5
    )
    try:
        yield RedisState(prefix=prefix, client=client)
    finally:
        await client.aclose()


def parser_name(state: RedisState) -> str:
    """Which reply parser the state's connections use."""
    pool = state._client.connection_pool
    parser = pool.connection_kwargs.get("parser_class")
    if parser is None:
        from redis.asyncio.connection import DefaultParser

        parser = DefaultParser
    return "hiredis" if "Hiredis" in parser.__name__ else "redis-py's pure-Python parser"


async def main(url: str | None, n: int, parser: str) -> None:
    """Print p50/p99 per workload for both backends and what Redis adds."""
    memory = await measure(MemoryState(), n)
    with redis_server() if url is None else _given(url) as target:
        async with shared_state(target, parser) as shared:
            remote = await measure(shared, n)
            assert not shared.degraded, shared.statistics().last_error
            used = parser_name(shared)
    print(f"{n} calls each, loopback Redis, parser: {used}; milliseconds")
    print(f"{'workload':<10} {'memory p50':>10} {'p99':>7} {'redis p50':>10} {'p99':>7} "
          f"{'added p50':>10} {'added p99':>10}")  # fmt: skip
    for name in WORKLOADS:
        m50, m99 = (1000 * percentile(memory[name], q) for q in (0.5, 0.99))
        r50, r99 = (1000 * percentile(remote[name], q) for q in (0.5, 0.99))
        print(
            f"{name:<10} {m50:>10.3f} {m99:>7.3f} {r50:>10.3f} {r99:>7.3f} "
            f"{r50 - m50:>10.3f} {r99 - m99:>10.3f}"
        )
    for name, label in (("decision", "gate, 1 round trip"), ("sequential", "3 round trips")):
        mean = 1000 * (statistics.fmean(remote[name]) - statistics.fmean(memory[name]))
        print(f"added per routing decision ({label}): mean {mean:.3f} ms")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=5000, help="calls per workload")
    parser.add_argument("--url", default=None, help="an existing Redis (default: start one)")
    parser.add_argument(
        "--parser",
        choices=("auto", "python"),
        default="auto",
        help="auto: hiredis when installed; python: redis-py's pure-Python parser",
    )
    options = parser.parse_args()
    asyncio.run(main(options.url, options.decisions, options.parser))

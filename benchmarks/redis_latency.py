"""Added latency per routing decision with `RedisState` on loopback (DESIGN §8 target:
≤ 1 ms at p99), measured, never asserted.

A routing decision is what the router asks its shared state before an attempt: the
breaker permit (`BreakerAcquire`), the rate limit (`RateReserve`) and the budget
reservation (`LedgerReserve`); after the attempt it reports back (`BreakerReport`,
`LedgerSettle`). Both halves run sequentially, once on `MemoryState` and once on
`RedisState`, and the difference of the percentiles is what Redis adds. Three workloads:

- ``decision``: the three gating operations alone, as the engine calls them;
- ``report``: the two reporting operations after the attempt;
- ``generate``: a whole ``Router.generate`` on a `FakeProvider` that answers at once.

Starts its own ``redis-server`` on a free loopback port unless ``--url`` is given. Run::

    python benchmarks/redis_latency.py [--decisions 5000] [--url redis://127.0.0.1:6379/0]
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
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

from imagegate import Route, Router
from imagegate.resilience.breaker import CircuitBreaker
from imagegate.resilience.ledger import CostLedger
from imagegate.resilience.ratelimit import RateLimit, RateLimiter
from imagegate.state import MemoryState, RedisState, StateBackend


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

    async def gate() -> None:
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
    gates = await timed(n, gate)
    await timed(n, report)
    return {"decision": gates, "report": reports[200:], "generate": generate}


async def main(url: str | None, n: int) -> None:
    """Print p50/p99 per workload for both backends and what Redis adds."""
    memory = await measure(MemoryState(), n)
    with redis_server() if url is None else _given(url) as target:
        async with RedisState(target, prefix=f"bench-{uuid.uuid4().hex[:8]}") as shared:
            remote = await measure(shared, n)
            assert not shared.degraded, shared.statistics().last_error
    print(f"{n} calls each, loopback Redis; milliseconds")
    print(f"{'workload':<10} {'memory p50':>10} {'p99':>7} {'redis p50':>10} {'p99':>7} "
          f"{'added p50':>10} {'added p99':>10}")  # fmt: skip
    for name in ("decision", "report", "generate"):
        m50, m99 = (1000 * percentile(memory[name], q) for q in (0.5, 0.99))
        r50, r99 = (1000 * percentile(remote[name], q) for q in (0.5, 0.99))
        print(
            f"{name:<10} {m50:>10.3f} {m99:>7.3f} {r50:>10.3f} {r99:>7.3f} "
            f"{r50 - m50:>10.3f} {r99 - m99:>10.3f}"
        )
    mean = 1000 * (statistics.fmean(remote["decision"]) - statistics.fmean(memory["decision"]))
    print(f"added per routing decision (3 round trips): mean {mean:.3f} ms")
    try:
        import hiredis  # noqa: F401
    except ImportError:
        print("parser: redis-py's pure-Python parser (pip install hiredis: ~20% less per call)")
    else:
        print("parser: hiredis")


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--decisions", type=int, default=5000, help="calls per workload")
    parser.add_argument("--url", default=None, help="an existing Redis (default: start one)")
    options = parser.parse_args()
    asyncio.run(main(options.url, options.decisions))

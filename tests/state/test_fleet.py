"""Shared state across real processes: four workers (``_worker.py``, each its own
Python process with its own router and clock) share one Redis, against the simulator."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from imagegate.providers import ProviderConfig, registry
from imagegate.testing.simulator import Simulator

from ._redis import RedisServer

WORKERS = 4
MODEL = "gemini-3-pro-image"
SCRIPT = Path(__file__).with_name("_worker.py")


class Fleet:
    """The worker processes, driven over their stdin/stdout."""

    def __init__(self, count: int) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, str(SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                bufsize=1,
            )
            for _ in range(count)
        ]

    async def ask(self, index: int, command: dict[str, Any]) -> dict[str, Any]:
        """Send one command to one worker and wait for its answer (the loop keeps
        serving the simulator meanwhile)."""
        proc = self.procs[index]
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(json.dumps(command) + "\n")
        proc.stdin.flush()
        line = await asyncio.to_thread(proc.stdout.readline)
        assert line, f"worker {index} died (exit {proc.poll()})"
        answer: dict[str, Any] = json.loads(line)
        assert "crash" not in answer, answer["crash"]
        return answer

    async def all(self, command: dict[str, Any]) -> list[dict[str, Any]]:
        """The same command to every worker at once."""
        return list(await asyncio.gather(*(self.ask(i, command) for i in range(len(self.procs)))))

    def close(self) -> None:
        """Stop every worker and reap it."""
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    """Four workers, started once for this module (each test opens its own router)."""
    workers = Fleet(WORKERS)
    yield workers
    workers.close()


def _scenario(**gemini: Any) -> dict[str, Any]:
    profile = {"provider": "gemini", "latency_s": {"fixed": 2}, "fail_latency_s": {"fixed": 0.5}}
    return {"name": "fleet", "profiles": [{**profile, "outcomes": {"success": 1}, **gemini}]}


def _gemini(sim: Simulator, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "gemini",
        "model": MODEL,
        "name": "gemini",
        "base_url": sim.base_url("gemini"),
        "api_key": sim.api_key("gemini"),
        **extra,
    }


def _breaker(answer: dict[str, Any], route: str, size: str) -> str:
    states = [h["breaker"] for h in answer["health"] if (h["route"], h["size"]) == (route, size)]
    assert len(states) == 1
    return str(states[0])


def _open(
    server: RedisServer, prefix: str, sim: Simulator, routes: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {
        "op": "open",
        "redis_url": server.url,
        "prefix": prefix,
        "time_scale": sim.time_scale,
        "routes": routes,
        **extra,
    }


@pytest.fixture
async def rpm_sim() -> AsyncIterator[Simulator]:
    """Gemini with a 20 requests-per-minute quota, 1 simulated second = 20 real ms."""
    async with Simulator(_scenario(rpm=20), seed=0, time_scale=0.02) as sim:
        yield sim


# Between its booking and its arrival at the simulator each request picks up delivery
# jitter (the worker's event loop, the SDK, the kernel: a few real ms, up to tens on this
# 2-core machine running 4 workers, the simulator and Redis). At 20 real ms per simulated
# second that is up to ~3 simulated seconds, and the simulator counts arrivals: without a
# margin, requests k and k + 20, booked exactly 60 s apart, may arrive 59.9 s apart. The
# rate limit's safety margin covers it: margin_s=6 books 20 requests per 66 s, so any
# arrival up to 6 simulated seconds (120 real ms) late still keeps 20 in every minute
# (3 s was once not enough on a machine loaded by other test runs).
MARGIN_S = 6.0


async def test_four_workers_share_one_rpm_quota(
    fleet: Fleet, redis_server: RedisServer, prefix: str, rpm_sim: Simulator
) -> None:
    """4 workers × 10 requests on one ``rpm=20`` quota: the simulator never sees more
    than 20 requests in a simulated minute, and never answers 429 (each worker alone
    would send at 20 rpm, 80 together)."""
    sim = rpm_sim
    route = _gemini(sim, rpm=20, margin_s=MARGIN_S, quota_key="sim-project")
    await fleet.all(_open(redis_server, prefix, sim, [route]))
    await fleet.all({"op": "run", "prompts": ["warm-up"]})  # first connections, SDK set-up
    prompts = [f"a lighthouse {k}" for k in range(10)]
    answers = await fleet.all({"op": "run", "prompts": prompts, "concurrency": 10})
    events = [e for e in sim.events if e.provider == "gemini"]
    assert len(events) == WORKERS * (1 + len(prompts))
    assert [(e.started, e.outcome) for e in events if e.status == 429] == []
    assert all(r["ok"] for a in answers for r in a["results"])
    starts = sorted(e.started for e in events)
    busiest = max(sum(1 for t in starts if s - 60.0 < t <= s) for s in starts)
    assert busiest <= 20
    # Sharing, not idling: 44 requests take about 2.4 minutes (43 × 66 / 20 s), not 9;
    # the bound leaves room for the lateness a loaded machine adds at 20 ms a second.
    assert starts[-1] - starts[0] < 240.0
    assert all(not a["state"]["degraded"] for a in answers)


@pytest.fixture
async def failing_sim() -> AsyncIterator[Simulator]:
    """Gemini that always answers 503, 1 simulated second = 1 real ms."""
    async with Simulator(_scenario(outcomes={"overloaded": 1}), seed=0, time_scale=0.001) as sim:
        yield sim


async def test_a_breaker_opened_by_one_worker_is_open_for_all(
    fleet: Fleet, redis_server: RedisServer, prefix: str, failing_sim: Simulator
) -> None:
    """Worker 0's three failures open the gemini breaker; the other workers' very next
    decisions skip gemini; after the cool-down only ``half_open_probes`` (2) probes
    reach gemini across all four workers (they fail, and the next cool-down outlasts
    the test)."""
    sim = failing_sim
    breaker = {
        "consecutive_failures": 3,
        "cooldown_s": 200.0,
        "cooldown_multiplier": 1000.0,
        "cooldown_max_s": 1e6,
        "half_open_probes": 2,
    }
    routes = [_gemini(sim), {"provider": "fake", "model": "fake-image", "name": "fake"}]
    await fleet.all(_open(redis_server, prefix, sim, routes, breaker=breaker))

    first = await fleet.ask(0, {"op": "run", "prompts": ["a fox"] * 3})
    assert [r["route"] for r in first["results"]] == ["fake"] * 3
    assert len(sim.events) == 3
    assert _breaker(first, "gemini", "1K") == "open"

    others = await asyncio.gather(
        *(fleet.ask(i, {"op": "run", "prompts": ["a fox"]}) for i in (1, 2, 3))
    )
    assert [r["route"] for a in others for r in a["results"]] == ["fake"] * 3
    assert len(sim.events) == 3, "another worker sent a request through the open breaker"
    assert [_breaker(a, "gemini", "1K") for a in others] == ["open"] * 3

    await asyncio.sleep(0.2)  # 200 simulated seconds: the cool-down is over
    probes = await fleet.all({"op": "run", "prompts": ["a fox"] * 3, "concurrency": 3})
    assert all(r["route"] == "fake" for a in probes for r in a["results"])
    assert len(sim.events) == 3 + 2


@pytest.fixture
async def healthy_sim() -> AsyncIterator[Simulator]:
    """Gemini that always succeeds, 1 simulated second = 1 real ms."""
    async with Simulator(_scenario(), seed=0, time_scale=0.001) as sim:
        yield sim


async def _image_price(sim: Simulator) -> float:
    config = ProviderConfig(
        api_key=SecretStr(sim.api_key("gemini")), base_url=sim.base_url("gemini")
    )
    adapter = registry.create("gemini", config)
    try:
        return adapter.capabilities(MODEL).estimate_cost_usd("1K")
    finally:
        await adapter.aclose()


async def test_a_budget_shared_by_four_workers_is_never_exceeded(
    fleet: Fleet, redis_server: RedisServer, prefix: str, healthy_sim: Simulator
) -> None:
    """A cap worth 10.5 images, 4 workers × 6 requests: the simulator bills exactly 10
    images (each worker alone would have bought 6, 24 together)."""
    sim = healthy_sim
    price = await _image_price(sim)
    await fleet.all(_open(redis_server, prefix, sim, [_gemini(sim)], budget_usd=10.5 * price))
    answers = await fleet.all({"op": "run", "prompts": ["a bridge"] * 6, "concurrency": 3})
    billed_images = sum(e.n for e in sim.events if e.billed)
    assert billed_images * price <= 10.5 * price
    assert billed_images == 10
    delivered = sum(r["ok"] for a in answers for r in a["results"])
    assert delivered == 10
    refused = {r["error"] for a in answers for r in a["results"] if not r["ok"]}
    assert refused == {"BudgetExceeded"}


async def test_killing_redis_mid_run_loses_no_request(
    fleet: Fleet, own_redis: RedisServer, prefix: str, healthy_sim: Simulator
) -> None:
    """Redis is killed while 4 workers run: every request still completes (on local
    state), each worker reports the degraded mode; once Redis is back they return."""
    sim = healthy_sim
    route = _gemini(sim, rpm=600, quota_key="sim-project")
    await fleet.all(_open(own_redis, prefix, sim, [route], retry_interval_s=0.02))
    run = {"op": "run", "prompts": [f"a kite {k}" for k in range(30)], "concurrency": 2}
    running = asyncio.ensure_future(fleet.all(run))
    # Mid-run: some requests done, most still to come. This polls the simulator, which
    # other processes feed: there is no event to wait on.
    while len(sim.events) < 20:  # noqa: ASYNC110
        await asyncio.sleep(0.002)
    own_redis.kill()
    answers = await running
    failed = [r for a in answers for r in a["results"] if not r["ok"]]
    assert failed == [], (failed, [a["state"] for a in answers])
    assert len(sim.events) == WORKERS * 30
    for answer in answers:
        assert answer["state"]["degraded"]
        assert answer["state"]["local_operations"] > 0
        assert answer["events"].count("warning:state.degraded") == 1
        for health in answer["health"]:
            assert health.get("state_degraded", True)

    own_redis.start()
    await asyncio.sleep(0.03)  # past retry_interval_s
    back = await fleet.all({"op": "run", "prompts": ["a kite"]})
    assert all(r["ok"] for a in back for r in a["results"])
    for answer in back:
        assert not answer["state"]["degraded"]
        assert answer["state"]["recoveries"] == 1
        assert "warning:state.recovered" in answer["events"]

"""`RedisState` in one process: keys, expiry, the shared clock, peek, and what happens
while Redis cannot be reached (local state, one warning, degraded mode, recovery)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, MutableMapping
from dataclasses import dataclass
from typing import Any

import pytest
from redis.crc import key_slot

from _logcapture import captured_events
from imagegate.resilience.breaker import BreakerAcquire, BreakerPolicy, BreakerReport
from imagegate.resilience.ledger import LedgerReserve, LedgerSettle, LedgerState
from imagegate.resilience.ratelimit import RateExhaust, RateLimit, RateReserve
from imagegate.state import MemoryState, RedisState, StateBackend

from ._redis import RedisServer, free_port


@dataclass
class Timer:
    """Real-time intervals of the backend (retry, warnings, peek age), moved by hand."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Every imagegate event at info level or above."""
    with captured_events("info") as captured:
        yield captured


def test_importing_the_state_package_does_not_import_redis() -> None:
    """``import imagegate.state`` (and imagegate) leaves the redis client unimported."""
    code = "import sys, imagegate, imagegate.state; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


async def test_redis_state_is_a_state_backend(shared: RedisState) -> None:
    """RedisState satisfies the StateBackend protocol."""
    assert isinstance(shared, StateBackend)


async def test_an_unknown_operation_is_refused(shared: RedisState) -> None:
    """Only operations with a script run; others raise TypeError, never silently local."""

    @dataclass(frozen=True)
    class Custom:
        def apply(self, state: int | None, now: float) -> tuple[int, int]:
            return 1, 1

    with pytest.raises(TypeError, match="no script for Custom"):
        await shared.apply("custom:k", Custom(), now=0.0)


async def test_keys_are_namespaced_hash_tagged_and_expiring(
    shared: RedisState, prefix: str
) -> None:
    """Every key starts with the prefix, carries a hash tag (a route's sizes share one
    Cluster slot) and has a TTL derived from its record."""
    policy = BreakerPolicy(window_s=120.0, cooldown_max_s=300.0)
    limit = RateLimit(rpm=60, rpd=100)
    await shared.apply("ratelimit:proj-x", RateReserve(1, limit, 1, 5000.0, None), now=0.0)
    for size in ("1K", "2K", "4K"):
        await shared.apply(f"breaker:gemini:pro:{size}", BreakerAcquire(policy), now=0.0)
    await shared.apply("breaker:gemini:pro:1K", BreakerReport(policy, "failure", 1.0), now=0.0)
    await shared.apply("ledger:default", LedgerReserve(0.1, None), now=0.0)
    client = shared._client  # the test reads the server the backend writes
    keys = sorted(await client.keys(f"{prefix}:*"))
    assert keys == [
        f"{prefix}:breaker:{{gemini:pro}}:1K",
        f"{prefix}:breaker:{{gemini:pro}}:2K",
        f"{prefix}:breaker:{{gemini:pro}}:4K",
        f"{prefix}:ledger:{{default}}",
        f"{prefix}:ratelimit:{{proj-x}}",
    ]
    assert len({key_slot(k.encode()) for k in keys if ":breaker:" in k}) == 1
    ttl = {k.split(":", 1)[1]: await client.pttl(k) for k in keys}
    # Rate limit: the quota day's 5000 s (a request counted today), plus the 1 s margin.
    assert 4_990_000 < ttl["ratelimit:{proj-x}"] <= 5_001_000
    # Breaker: the window (120 s) holding the failure, plus cooldown_max_s; without one,
    # cooldown_max_s alone.
    assert 410_000 < ttl["breaker:{gemini:pro}:1K"] <= 421_000
    assert 290_000 < ttl["breaker:{gemini:pro}:2K"] <= 301_000
    # Ledger: ledger_ttl_s (30 days by default).
    assert 30 * 86_400_000 - 10_000 < ttl["ledger:{default}"] <= 30 * 86_400_000 + 1000


async def test_a_record_expires_once_it_no_longer_matters(shared: RedisState) -> None:
    """A GCRA record with no daily count lives until its tat (plus a 1 s margin); an
    open breaker until its cool-down (and cooldown_max_s) is over."""
    client = shared._client
    await shared.apply(
        "ratelimit:q", RateReserve(1, RateLimit(rpm=6, margin_s=0.0), 1, 10.0, None), now=0.0
    )
    assert 10_000 < await client.pttl(shared.redis_key("ratelimit:q")) <= 11_000
    await shared.apply("ratelimit:q", RateExhaust(1, 50.0), now=0.0)
    assert 50_000 < await client.pttl(shared.redis_key("ratelimit:q")) <= 90_001_000
    policy = BreakerPolicy(cooldown_s=40.0, cooldown_max_s=60.0)
    await shared.apply("breaker:r:1K", BreakerReport(policy, "quota", 0.0, None, 500.0), now=0.0)
    assert 559_000 < await client.pttl(shared.redis_key("breaker:r:1K")) <= 561_000


async def test_server_time_is_one_clock_for_callers_with_different_clocks(
    redis_server: RedisServer, prefix: str
) -> None:
    """Two "processes" whose clocks read 5 and 1e6 share one GCRA schedule on the
    server's clock, and each peeks the record in its own clock."""
    limit = RateLimit(rpm=20, margin_s=0.0)
    async with (
        RedisState(redis_server.url, prefix=prefix) as a,
        RedisState(redis_server.url, prefix=prefix) as b,
    ):
        first = await a.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=5.0)
        second = await b.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=1e6)
        assert first == 0.0
        assert second is not None
        assert 2.9 < second <= 3.0
        peek_a, peek_b = a.peek("ratelimit:q"), b.peek("ratelimit:q")
        assert peek_a is not None
        assert peek_b is not None
        assert abs(peek_a.request_tat - 8.0) < 0.1  # type: ignore[attr-defined]
        assert abs(peek_b.request_tat - (1e6 + 3.0 + second)) < 1e-3  # type: ignore[attr-defined]


async def test_time_scale_runs_server_time_at_the_clock_speed(
    redis_server: RedisServer, prefix: str
) -> None:
    """With ``time_scale=0.01`` ten real milliseconds are a clock second on the server
    too: three back-to-back requests at 60 rpm wait about 0, 1 and 2 s; after 40 real ms
    the quota is idle again (at real speed it would still be ~3 s ahead)."""
    limit = RateLimit(rpm=60, margin_s=0.0)
    async with RedisState(redis_server.url, prefix=prefix, time_scale=0.01) as state:
        await state.apply("ratelimit:warm-up", RateReserve(1, limit, 1, 1e4, None), now=0.0)
        waits = [
            await state.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=0.0)
            for _ in range(3)
        ]
        assert waits[0] == 0.0
        assert 0.0 < waits[1] <= 1.0  # type: ignore[operator]
        assert 1.0 < waits[2] <= 2.0  # type: ignore[operator]
        await asyncio.sleep(0.04)
        assert await state.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=0.0) == 0.0


async def test_a_stale_copy_does_not_vouch_for_other_workers_probes(
    redis_server: RedisServer, prefix: str
) -> None:
    """A worker refused a probe sees the breaker half-open and full; once its copy is
    older than peek_max_age_s it no longer assumes the other worker's probe still runs."""
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=1.0)
    timer = Timer()
    async with (
        RedisState(redis_server.url, prefix=prefix, clock="caller") as a,
        RedisState(redis_server.url, prefix=prefix, clock="caller", timer=timer) as b,
    ):
        await a.apply("breaker:r:1K", BreakerReport(policy, "failure", 1.0), now=0.0)
        permit, _ = await a.apply("breaker:r:1K", BreakerAcquire(policy), now=2.0)
        assert permit is not None
        assert permit.probe
        refused, _ = await b.apply("breaker:r:1K", BreakerAcquire(policy), now=2.0)
        assert refused is None
        assert b.peek("breaker:r:1K").probes == (2.0,)  # type: ignore[union-attr]
        timer.now += 1.5
        assert b.peek("breaker:r:1K").probes == ()  # type: ignore[union-attr]


# -- Redis unreachable ----------------------------------------------------------------


async def test_unreachable_redis_serves_on_local_state_and_warns_once(
    logs: list[MutableMapping[str, Any]],
) -> None:
    """With nothing listening, every operation still answers exactly as the in-memory
    backend would; one warning per warn_interval_s; the degraded mode is visible."""
    timer = Timer()
    url = f"redis://127.0.0.1:{free_port()}/0"
    policy = BreakerPolicy(consecutive_failures=2)
    limit = RateLimit(rpm=30)
    ops: list[tuple[str, Any]] = [
        ("ratelimit:q", RateReserve(1, limit, 1, 1e4, None)),
        ("ratelimit:q", RateReserve(1, limit, 1, 1e4, None)),
        ("breaker:r:1K", BreakerReport(policy, "failure", 1.0)),
        ("breaker:r:1K", BreakerReport(policy, "failure", 1.0)),
        ("breaker:r:1K", BreakerAcquire(policy)),
        ("ledger:default", LedgerReserve(0.5, 1.0)),
        ("ledger:default", LedgerReserve(0.6, 1.0)),
    ]
    reference = MemoryState()
    async with RedisState(url, retry_interval_s=5.0, warn_interval_s=60.0, timer=timer) as state:
        for key, op in ops:
            assert await state.apply(key, op, now=10.0) == await reference.apply(key, op, now=10.0)
            assert state.peek(key) == reference.peek(key)
        stats = state.statistics()
        assert state.degraded
        assert stats.degraded
        assert stats.outages == 1
        assert stats.local_operations == len(ops)
        assert stats.remote_operations == 0
        assert "ConnectionError" in stats.last_error
        assert [e["event"] for e in logs] == ["state.degraded"]
        timer.now += 30.0  # retried (and failed) once, not warned again
        await state.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=10.0)
        timer.now += 31.0
        await state.apply("ratelimit:q", RateReserve(1, limit, 1, 1e4, None), now=10.0)
        assert [e["event"] for e in logs] == ["state.degraded", "state.degraded"]
        assert logs[0]["log_level"] == "warning"
        assert "degraded" in repr(state)


class Partition:
    """A TCP proxy in front of Redis that can cut the network (Redis keeps its data)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        """The proxy's Redis URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        """Accept and forward connections."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self._writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers -= {writer, up_writer}


@pytest.fixture
async def partition(redis_server: RedisServer) -> AsyncIterator[Partition]:
    """A proxy to the session's Redis, running."""
    proxy = Partition(redis_server.port)
    await proxy.start()
    yield proxy
    if proxy._server is not None:
        await proxy.cut()


async def test_after_an_outage_the_local_ledger_is_added_to_the_shared_one(
    redis_server: RedisServer, partition: Partition, prefix: str
) -> None:
    """Spend booked and settled locally during a partition reaches the shared ledger
    when Redis is back, next to what other workers spent meanwhile: none is lost."""
    timer = Timer()
    async with (
        RedisState(partition.url, prefix=prefix, retry_interval_s=1.0, timer=timer) as cut_off,
        RedisState(redis_server.url, prefix=prefix) as other,
    ):
        assert await cut_off.apply("ledger:default", LedgerReserve(0.1, 5.0), now=0.0) == (
            True,
            0.0,
        )
        await partition.cut()
        await cut_off.apply("ledger:default", LedgerSettle(0.1, 0.1, "billed", "a"), now=0.0)
        await cut_off.apply("ledger:default", LedgerReserve(0.2, 5.0), now=0.0)
        await cut_off.apply("ledger:default", LedgerSettle(0.2, 0.2, "billed", "b"), now=0.0)
        await cut_off.apply("ledger:default", LedgerReserve(0.05, 5.0), now=0.0)
        assert cut_off.degraded
        await other.apply("ledger:default", LedgerReserve(1.0, 5.0), now=0.0)
        await other.apply("ledger:default", LedgerSettle(1.0, 1.0, "possibly_billed", "a"), now=0.0)

        await partition.start()
        timer.now += 1.5
        booked, committed = await cut_off.apply("ledger:default", LedgerReserve(0.0, 5.0), now=0.0)
        assert booked
        assert not cut_off.degraded
        assert cut_off.statistics().recoveries == 1
        assert committed == pytest.approx(0.1 + 0.2 + 1.0 + 0.05)
        shared = cut_off.peek("ledger:default")
        assert isinstance(shared, LedgerState)
        assert shared.billed_usd == pytest.approx(0.3)
        assert shared.possibly_billed_usd == pytest.approx(1.0)
        assert shared.open_reservations == 2  # the 0.05 one and the 0.0 just booked
        assert shared.reserved_usd == pytest.approx(0.05)
        assert [(r, round(b, 9), round(p, 9), n) for r, b, p, n in shared.by_route] == [
            ("a", 0.1, 1.0, 2),
            ("b", 0.2, 0.0, 1),
        ]


async def test_a_breaker_open_on_redis_stays_open_locally_during_an_outage(
    redis_server: RedisServer, partition: Partition, prefix: str
) -> None:
    """The local fallback starts from the last shared record: a breaker another worker
    opened stays open, and its cool-down runs on in the caller's clock."""
    policy = BreakerPolicy(consecutive_failures=1, cooldown_s=30.0)
    async with (
        RedisState(partition.url, prefix=prefix, retry_interval_s=60.0) as state,
        RedisState(redis_server.url, prefix=prefix) as other,
    ):
        await other.apply("breaker:r:1K", BreakerReport(policy, "failure", 1.0), now=0.0)
        permit, _ = await state.apply("breaker:r:1K", BreakerAcquire(policy), now=100.0)
        assert permit is None
        await partition.cut()
        permit, _ = await state.apply("breaker:r:1K", BreakerAcquire(policy), now=110.0)
        assert permit is None
        assert state.degraded
        permit, moved = await state.apply("breaker:r:1K", BreakerAcquire(policy), now=131.0)
        assert permit is not None
        assert permit.probe
        assert [(m.source, m.target) for m in moved] == [("open", "half_open")]

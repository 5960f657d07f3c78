"""`RedisState`: the `StateBackend` that shares quotas, breakers and the budget across
processes and machines through one Redis server (docs/scaling.md).

Each operation runs as one Lua script over one hash key, so it is atomic however many
workers call it. The scripts come with the primitives: each one's codec
(`imagegate.state.codec`) names its keys, encodes its operations and decodes their
replies, and its scripts are line-for-line ports of the Python ``apply`` methods (the
reference they are tested against). This module only carries them: it sends them by SHA1
(``EVALSHA``), and a server that does not know one yet (first use, restart,
``SCRIPT FLUSH``) gets it once by ``EVAL``.

Time. Records store absolute times, so every process must read them on one time base.
With ``clock="server"`` (the default) a script takes ``now`` from the Redis server's
``TIME``, counted from ``EPOCH_S`` and divided by ``time_scale`` (real seconds per clock
second: 1.0 with the default `LoopClock`, the clock's ``scale`` with a `ScaledClock`), so
workers whose monotonic clocks have nothing in common agree on every tat, cool-down and
probe. Operations carry durations relative to ``now``, so the caller's own ``now`` is
not needed. With ``clock="caller"`` the caller's ``now`` is used as-is: only right when
every process reads one clock (a `FakeClock` shared by routers in one test, say).

Records kept for `peek` (planning checks, ``health()``, ``repr``) are shifted into the
caller's clock with the offset between its ``now`` and the server's at the last reply.
A copy older than ``peek_max_age_s`` no longer vouches for other workers' claims, such
as half-open probe permits (it cannot know they ended), so planning asks Redis again.

Keys are ``{prefix}:{kind}:{{tag}}...`` — ``imagegate:breaker:{gemini}:4K``,
``imagegate:ratelimit:{gemini-project-x}``, ``imagegate:ledger:{default}`` — and every
script touches exactly one key, so it works on Redis Cluster; the hash tag keeps a route's
breakers on one slot. Every write sets a TTL derived from the record (docs/scaling.md
lists them); a record that says nothing of its own lifetime, the ledger, is kept
``ledger_ttl_s`` after its last change.

Redis unavailable. A connection error, time-out or any Redis error never reaches the
caller: the operation runs on a local `MemoryState` seeded with the last records this
process saw, a warning is logged at most once per ``warn_interval_s``, `degraded` turns
True (the router shows it in ``health()``), and Redis is tried again every
``retry_interval_s``. On its return, what this process changed locally in an additive
record (its ledger: booked and settled spend) is added to the shared one, so no spend is
lost; other records (rate limits, breakers) go back to the shared ones, which are
authoritative.

A corrupt record. A record with a field that is not a finite number (a NaN from an old
writer, a manual edit, another program on the same prefix) is refused by the script that
loads it (``CORRUPT_RECORD``). Only that key is affected: its operations run on local
state seeded with the last good copy this process saw, exactly as in an outage, and
``state.corrupt_record`` is logged at error level (at most once per ``warn_interval_s``
per key); every other key stays shared and `degraded` stays False. Redis is asked again
on every operation, so the key is shared again as soon as it is deleted, expires or is
repaired. A ledger script also refuses an amount that is negative or not finite
(``REFUSED_ARGUMENT``); `apply` raises `ValueError` for it (the ledger's operations
refuse such amounts before they are sent).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from imagegate._logging import get_logger
from imagegate.state._fallback import Fallback
from imagegate.state._local import Copy
from imagegate.state._outage import Outage
from imagegate.state._transport import EPOCH_S, Transport, connect, redis_errors
from imagegate.state.codec import Codec, RemoteCall, encoder_for, scripts

if TYPE_CHECKING:
    from imagegate.state import Operation

__all__ = ["EPOCH_S", "RedisState", "RedisStateStatistics"]

S = TypeVar("S")
R = TypeVar("R")

# Every registered script by name (a live view: primitives register theirs on import).
_SCRIPTS: Final = scripts()

TimeSource = Literal["server", "caller"]


@dataclass(frozen=True, slots=True)
class RedisStateStatistics:
    """A snapshot of a `RedisState`.

    Attributes:
        degraded: True while Redis is unreachable and operations run on local state.
        degraded_for_s: Real seconds since it became degraded (0.0 when not).
        last_error: The last Redis error, as ``"Type: message"`` ("" if none yet).
        remote_operations: Operations Redis applied.
        local_operations: Operations applied locally because Redis was unreachable.
        outages: Times it switched to local state.
        recoveries: Times it switched back to Redis.
        keys_cached: Records it holds a copy of for `RedisState.peek`.
    """

    degraded: bool
    degraded_for_s: float
    last_error: str
    remote_operations: int
    local_operations: int
    outages: int
    recoveries: int
    keys_cached: int


class RedisState:
    """Shares rate limits, breakers and the budget ledger through Redis (see the module
    docstring for the time base, keys, expiry and what happens when Redis is down).

    ``Router(routes, state=RedisState("redis://localhost:6379/0"))`` in every worker gives
    them one quota, one breaker per (route, size) and one budget. Close it with
    `aclose` (or ``async with``) when done.

    Args:
        url: The Redis URL (``redis://``, ``rediss://``, ``unix://``).
        prefix: Starts every key; give each deployment (and each budget period) its own.
        clock: ``"server"``: ``now`` is the Redis server's time (the default; right for
            many machines); ``"caller"``: the caller's ``now`` as-is (one shared clock).
        time_scale: Real seconds per clock second: 1.0 for the default `LoopClock`; a
            `ScaledClock`'s ``scale`` so server time runs at simulated speed.
        ledger_ttl_s: Real seconds the budget ledger is kept after its last change.
        socket_timeout_s: Longest wait for Redis to answer before working locally.
        retry_interval_s: Real seconds between attempts to reach Redis while degraded.
        warn_interval_s: Real seconds between two warnings about Redis being unreachable.
        peek_max_age_s: Real seconds a copy vouches for other workers' probe permits.
        client: A ready ``redis.asyncio`` client (e.g. a ``RedisCluster``) instead of
            ``url``; it must decode responses (``decode_responses=True``).
        timer: Real monotonic seconds, for the intervals above (tests may fake it).

    Raises:
        ImportError: the ``redis`` package is missing (with the install hint).
        ValueError: for a non-positive scale or interval.
    """

    __slots__ = (
        "_clock",
        "_copies",
        "_fallback",
        "_outage",
        "_owns_client",
        "_peek_max_age_s",
        "_redis_errors",
        "_remote_ops",
        "_timer",
        "_transport",
        "_ttl_s",
    )

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "imagegate",
        clock: TimeSource = "server",
        time_scale: float = 1.0,
        ledger_ttl_s: float = 30 * 86400.0,
        socket_timeout_s: float = 0.5,
        retry_interval_s: float = 1.0,
        warn_interval_s: float = 60.0,
        peek_max_age_s: float = 1.0,
        client: Any = None,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis_errors = redis_errors()
        if clock not in ("server", "caller"):
            raise ValueError(f"clock must be 'server' or 'caller', got {clock!r}")
        for name, value in (
            ("time_scale", time_scale),
            ("ledger_ttl_s", ledger_ttl_s),
            ("socket_timeout_s", socket_timeout_s),
            ("retry_interval_s", retry_interval_s),
            ("warn_interval_s", warn_interval_s),
            ("peek_max_age_s", peek_max_age_s),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}")
        self._clock: TimeSource = clock
        self._ttl_s = float(ledger_ttl_s)
        self._peek_max_age_s = peek_max_age_s
        self._timer = timer
        self._owns_client = client is None
        self._transport = Transport(
            connect(url, socket_timeout_s=socket_timeout_s) if client is None else client,
            prefix=prefix,
            caller_clock=clock == "caller",
            time_scale=float(time_scale),
        )
        self._outage = Outage(
            prefix=prefix,
            retry_interval_s=retry_interval_s,
            warn_interval_s=warn_interval_s,
            timer=timer,
            log=get_logger("imagegate.state"),
        )
        self._copies: dict[str, Copy] = {}  # what `peek` answers
        self._fallback = Fallback(
            self._transport,
            self._outage,
            self._copies,
            errors=self._redis_errors,
            ttl_s=self._ttl_s,
            timer=timer,
        )
        self._remote_ops = 0

    # -- keys and settings --------------------------------------------------------------

    def redis_key(self, key: str) -> str:
        """The Redis key that holds the record of ``key`` (with its hash tag).

        ``{kind}:{rest}`` → ``{prefix}:{kind}:{{rest}}``, or the tag the kind's codec
        gives (``breaker:{route}:{size}`` → ``{prefix}:breaker:{{route}}:{size}``); a key
        without a kind → ``{prefix}:{{key}}``.
        """
        return self._transport.key(key)

    @property
    def prefix(self) -> str:
        """Starts every key."""
        return self._transport.prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        self._transport.prefix = self._outage.prefix = value

    @property
    def time_scale(self) -> float:
        """Real seconds per clock second."""
        return self._transport.time_scale

    @time_scale.setter
    def time_scale(self, value: float) -> None:
        self._transport.time_scale = value

    @property
    def _client(self) -> Any:
        return self._transport.client

    # -- the StateBackend interface -----------------------------------------------------

    async def apply(self, key: str, op: Operation[S, R], *, now: float) -> R:
        """Apply ``op`` to the record under ``key`` atomically, in Redis when it answers,
        else on local state (never raising a Redis or connection error)."""
        codec, call = self._encode(op)
        if self._outage.since is not None and not await self._fallback.back():
            return cast("R", await self._fallback.apply(key, codec, op, now))
        try:
            reply = await self._transport.run(key, call, now)
        except self._redis_errors as exc:
            return cast("R", await self._fallback.failed(key, codec, op, exc, now))
        return cast("R", await self._answered(key, codec, op, call, reply, now))

    async def apply_many(
        self, ops: Sequence[tuple[str, Operation[Any, Any]]], *, now: float
    ) -> list[Any]:
        """Apply each ``(key, op)`` atomically and return the results in order: one
        pipeline of scripts, so one round trip (a cluster client sends each node its
        part). Keys should be distinct: the scripts do not depend on each other, and one
        the server had to be sent again runs after the others.

        An operation Redis could not run goes on local state, like `apply`; when the
        connection fails mid-pipeline all of them do (those Redis already ran then count
        twice, as for `apply`).
        """
        encoded = [(key, op, *self._encode(op)) for key, op in ops]
        if self._outage.since is not None and not await self._fallback.back():
            return [
                await self._fallback.apply(key, codec, op, now) for key, op, codec, _ in encoded
            ]
        try:
            replies = await self._transport.run_many(
                [(key, call) for key, _, _, call in encoded], now
            )
        except self._redis_errors as exc:
            self._outage.failed(exc)
            return [
                await self._fallback.apply(key, codec, op, now) for key, op, codec, _ in encoded
            ]
        return [
            await self._answered(key, codec, op, call, reply, now)
            for (key, op, codec, call), reply in zip(encoded, replies, strict=True)
        ]

    def peek(self, key: str) -> object | None:
        """The latest record this process knows for ``key``, in the caller's clock.

        While degraded: the local record. A copy older than ``peek_max_age_s`` is returned
        without other workers' claims, such as probe permits (they may have ended since).
        """
        if self._outage.since is not None:
            local = self._fallback.peek(key)
            if local is not None:
                return local
        copy = self._copies.get(key)
        if copy is None:
            return None
        if self._timer() - copy.read_at > self._peek_max_age_s:
            return copy.codec.aged(copy.record)
        return copy.record

    # -- status -------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and decisions are made on local state."""
        return self._outage.since is not None

    def statistics(self) -> RedisStateStatistics:
        """Whether it is degraded, since when, and how many operations went where."""
        outage = self._outage
        return RedisStateStatistics(
            degraded=outage.since is not None,
            degraded_for_s=outage.degraded_for_s(),
            last_error=outage.last_error,
            remote_operations=self._remote_ops,
            local_operations=self._fallback.operations,
            outages=outage.outages,
            recoveries=outage.recoveries,
            keys_cached=len(self._copies),
        )

    async def ping(self) -> bool:
        """Whether Redis answers now (does not change the degraded state)."""
        try:
            return bool(await self._client.ping())
        except self._redis_errors:
            return False

    async def aclose(self) -> None:
        """Close the connections (a client passed in is left to its owner)."""
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> RedisState:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        stats = self.statistics()
        mode = "degraded" if stats.degraded else "shared"
        return (
            f"RedisState(prefix={self.prefix!r}, clock={self._clock!r}, {mode}, "
            f"remote_operations={stats.remote_operations}, "
            f"local_operations={stats.local_operations})"
        )

    # -- the shared path ----------------------------------------------------------------

    def _encode(self, op: object) -> tuple[Codec, RemoteCall]:
        found = encoder_for(op)
        if found is None:
            raise TypeError(
                f"RedisState has no script for {type(op).__name__}; it runs the operations "
                "whose codec is registered (imagegate.state.codec.register_codec): those of "
                "imagegate's rate limits, breakers and ledger"
            )
        codec, encode = found
        return codec, encode(op, self._ttl_s)

    async def _answered(
        self,
        key: str,
        codec: Codec,
        op: Operation[Any, Any],
        call: RemoteCall,
        reply: Sequence[str] | BaseException,
        now: float,
    ) -> Any:
        """The result of a script's reply (an error in a pipeline is its reply)."""
        if isinstance(reply, BaseException):
            return await self._fallback.failed(key, codec, op, reply, now)
        result = self._absorb(key, codec, call, reply, now)
        if self._outage.is_corrupt(key):
            await self._fallback.repaired(key)
        return result

    def _absorb(
        self, key: str, codec: Codec, call: RemoteCall, reply: Sequence[str], now: float
    ) -> Any:
        """Decode a script's reply: keep the record for `peek`, return the result."""
        server_now = float(reply[0])
        count = int(reply[1])
        result = call.result(reply[2 : 2 + count])
        record = codec.record({reply[k]: reply[k + 1] for k in range(2 + count, len(reply) - 1, 2)})
        offset = now - server_now
        self._remote_ops += 1
        if record is None:
            self._copies.pop(key, None)
        else:
            shifted = record if offset == 0.0 else codec.shifted(record, offset)
            self._copies[key] = Copy(shifted, codec, self._timer(), offset)
        return result

"""`RedisState`: the `StateBackend` that shares quotas, breakers and the budget across
processes and machines through one Redis server (docs/scaling.md).

Each operation runs as one Lua script over one hash key, so it is atomic however many
workers call it: the scripts in ``state/_lua`` are line-for-line ports of the Python
``apply`` methods (the reference they are tested against). They are sent by SHA1
(``EVALSHA``); a server that does not know one yet (first use, restart, ``SCRIPT FLUSH``)
gets it once by ``EVAL``.

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
A copy older than ``peek_max_age_s`` no longer vouches for other workers' half-open
probe permits (it cannot know they ended), so planning asks Redis again.

Keys are ``{prefix}:{kind}:{{tag}}...`` — ``imagegate:breaker:{gemini}:4K``,
``imagegate:ratelimit:{gemini-project-x}``, ``imagegate:ledger:{default}`` — and every
script touches exactly one key, so it works on Redis Cluster; the hash tag keeps a route's
breakers on one slot. Every write sets a TTL derived from the record: the latest GCRA
time, block or quota day for a rate limit; the window, cool-down and probe permits plus
``cooldown_max_s`` for a breaker; ``ledger_ttl_s`` after its last change for the ledger.

Redis unavailable. A connection error, time-out or any Redis error never reaches the
caller: the operation runs on a local `MemoryState` seeded with the last records this
process saw, a warning is logged at most once per ``warn_interval_s``, `degraded` turns
True (the router shows it in ``health()``), and Redis is tried again every
``retry_interval_s``. On its return, what this process booked and settled on its local
ledger is added to the shared one, so no spend is lost; rate limits and breakers go back
to the shared records, which are authoritative.

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

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar, cast

from imagegate._extras import install_hint
from imagegate._logging import get_logger
from imagegate.resilience.breaker import (
    BreakerAcquire,
    BreakerPermit,
    BreakerPolicy,
    BreakerRecord,
    BreakerReport,
    BreakerTransition,
)
from imagegate.resilience.ledger import (
    LedgerReserve,
    LedgerSettle,
    LedgerState,
    LedgerUnreserve,
)
from imagegate.resilience.ratelimit import (
    RateExhaust,
    RateLimit,
    RateLimitState,
    RateReserve,
    RateUnreserve,
)
from imagegate.state.memory import MemoryState

if TYPE_CHECKING:
    from imagegate.state import Operation

__all__ = ["EPOCH_S", "RedisState", "RedisStateStatistics"]

S = TypeVar("S")
R = TypeVar("R")

EPOCH_S: Final = 1_700_000_000
"""Unix time the server clock is counted from (keeps clock values small and exact)."""

_INSTALL_HINT: Final = f"RedisState needs the redis client (redis>=5): {install_hint('redis')}"

TimeSource = Literal["server", "caller"]

# Error codes of the scripts (prelude.lua): not a connection problem, so not an outage.
_CORRUPT: Final = "CORRUPT_RECORD"
_REFUSED: Final = "REFUSED_ARGUMENT"


def _script_error(exc: BaseException, code: str) -> bool:
    return str(exc).startswith(code)


# -- the scripts ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Script:
    name: str
    text: str
    sha: str


def _load_scripts() -> dict[str, _Script]:
    folder = resources.files("imagegate.state") / "_lua"

    def read(name: str) -> str:
        return (folder / f"{name}.lua").read_text(encoding="utf-8")

    prelude = read("prelude")
    bodies = {
        "rate_reserve": ("rate", "rate_reserve"),
        "rate_exhaust": ("rate", "rate_exhaust"),
        "rate_unreserve": ("rate", "rate_unreserve"),
        "breaker_acquire": ("breaker", "breaker_acquire"),
        "breaker_report": ("breaker", "breaker_report"),
        "ledger_reserve": ("ledger", "ledger_reserve"),
        "ledger_settle": ("ledger", "ledger_settle"),
        "ledger_unreserve": ("ledger", "ledger_unreserve"),
        "ledger_merge": ("ledger", "ledger_merge"),
    }
    scripts = {}
    for name, parts in bodies.items():
        text = "\n".join([prelude, *(read(part) for part in parts)])
        sha = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        scripts[name] = _Script(name, text, sha)
    return scripts


_SCRIPTS: Final = _load_scripts()


# -- encoding operations and records --------------------------------------------------


def _f(value: float) -> str:
    return repr(float(value))


def _opt(value: float | None) -> str:
    return "" if value is None else repr(value)


@lru_cache(maxsize=256)
def _limit_args(limit: RateLimit) -> tuple[str, ...]:
    return (
        _opt(limit.rpm),
        _opt(limit.ipm),
        _opt(limit.rpd),
        _opt(limit.min_interval_s),
        str(limit.burst),
        _f(limit.margin_s),
    )


@lru_cache(maxsize=256)
def _policy_args(policy: BreakerPolicy) -> tuple[str, ...]:
    return (
        _f(policy.failure_rate),
        str(policy.min_calls),
        _f(policy.window_s),
        str(policy.window_buckets),
        _opt(policy.slow_call_s),
        _f(policy.slow_call_rate),
        _opt(policy.consecutive_failures),
        _f(policy.cooldown_s),
        _f(policy.cooldown_multiplier),
        _f(policy.cooldown_max_s),
        str(policy.half_open_probes),
        _f(policy.probe_timeout_s),
    )


def _transitions(items: Sequence[str]) -> tuple[BreakerTransition, ...]:
    return tuple(
        BreakerTransition(
            cast("Any", items[k]),
            cast("Any", items[k + 1]),
            items[k + 2],
            None if items[k + 3] == "" else float(items[k + 3]),
        )
        for k in range(0, len(items), 4)
    )


def _fields(reply: Sequence[str], start: int) -> dict[str, str]:
    return {reply[k]: reply[k + 1] for k in range(start, len(reply) - 1, 2)}


def _rate_record(h: dict[str, str]) -> RateLimitState | None:
    if not h:
        return None
    return RateLimitState(
        request_tat=float(h["rt"]),
        image_tat=float(h["it"]),
        spacing_tat=float(h["st"]),
        day=int(h["d"]),
        used_today=int(h["ut"]),
        used_next_day=int(h["un"]),
        blocked_until=float(h["bu"]),
        booking=h.get("lb", ""),
        booking_day=int(h.get("ld", "0")),
    )


def _breaker_record(h: dict[str, str]) -> BreakerRecord | None:
    if not h:
        return None
    buckets = tuple(
        (float(s), int(c), int(f), int(w))
        for s, c, f, w in (b.split(",") for b in h["bk"].split(";") if b)
    )
    return BreakerRecord(
        state=cast("Any", h["s"]),
        open_until=float(h["ou"]),
        level=int(h["lv"]),
        reason=h["rs"],
        buckets=buckets,
        consecutive=int(h["cs"]),
        probes=tuple(float(t) for t in h["pr"].split(";") if t),
        probe_successes=int(h["ps"]),
        opened_total=int(h["ot"]),
    )


def _ledger_record(h: dict[str, str]) -> LedgerState | None:
    if not h:
        return None
    rows = []
    for field, value in h.items():
        if field.startswith("R:"):
            index, billed, possibly, attempts = value.split(";")
            rows.append((int(index), field[2:], float(billed), float(possibly), int(attempts)))
    rows.sort()
    return LedgerState(
        billed_usd=float(h["b"]),
        possibly_billed_usd=float(h["p"]),
        reserved_usd=float(h["r"]),
        open_reservations=int(h["o"]),
        by_route=tuple((route, b, p, a) for _, route, b, p, a in rows),
    )


def _shift(record: object, offset: float) -> object:
    """``record`` with its absolute times moved by ``offset`` (server → caller clock)."""
    if offset == 0.0:
        return record
    if isinstance(record, RateLimitState):
        return replace(
            record,
            request_tat=record.request_tat + offset,
            image_tat=record.image_tat + offset,
            spacing_tat=record.spacing_tat + offset,
            blocked_until=record.blocked_until + offset,
        )
    if isinstance(record, BreakerRecord):
        return replace(
            record,
            open_until=record.open_until + offset,
            buckets=tuple((s + offset, c, f, w) for s, c, f, w in record.buckets),
            probes=tuple(t + offset for t in record.probes),
        )
    return record


@dataclass(frozen=True, slots=True)
class _Call:
    """How one operation runs remotely: its script, arguments and decoders."""

    script: str
    args: tuple[str, ...]
    result: Callable[[Sequence[str]], Any]
    record: Callable[[dict[str, str]], object | None]


def _call_for(op: object, ledger_ttl_s: str) -> _Call:
    if isinstance(op, RateReserve):
        return _Call(
            "rate_reserve",
            (
                str(op.n),
                *_limit_args(op.limit),
                str(op.day),
                _f(op.reset_in_s),
                _opt(op.max_wait_s),
                op.booking,
            ),
            lambda r: None if r[0] == "" else float(r[0]),
            _rate_record,
        )
    if isinstance(op, RateUnreserve):
        return _Call(
            "rate_unreserve",
            (op.booking, str(op.n), *_limit_args(op.limit), str(op.day)),
            lambda r: r[0] == "1",
            _rate_record,
        )
    if isinstance(op, RateExhaust):
        return _Call(
            "rate_exhaust", (str(op.day), _f(op.block_for_s)), lambda r: None, _rate_record
        )
    if isinstance(op, BreakerAcquire):
        return _Call("breaker_acquire", _policy_args(op.policy), _acquire_result, _breaker_record)
    if isinstance(op, BreakerReport):
        return _Call(
            "breaker_report",
            (
                *_policy_args(op.policy),
                op.outcome,
                _f(op.duration_s),
                _opt(op.probe_token),
                _f(op.open_for_s),
            ),
            _transitions,
            _breaker_record,
        )
    if isinstance(op, LedgerReserve):
        return _Call(
            "ledger_reserve",
            (ledger_ttl_s, _f(op.estimate_usd), _opt(op.limit_usd)),
            lambda r: (r[0] == "1", float(r[1])),
            _ledger_record,
        )
    if isinstance(op, LedgerUnreserve):
        return _Call(
            "ledger_unreserve",
            (ledger_ttl_s, _f(op.estimate_usd)),
            lambda r: None,
            _ledger_record,
        )
    if isinstance(op, LedgerSettle):
        return _Call(
            "ledger_settle",
            (ledger_ttl_s, _f(op.estimate_usd), _f(op.actual_usd), op.billing, op.route),
            lambda r: None,
            _ledger_record,
        )
    raise TypeError(
        f"RedisState has no script for {type(op).__name__}; it runs the operations of "
        "imagegate's rate limits, breakers and ledger"
    )


def _acquire_result(
    items: Sequence[str],
) -> tuple[BreakerPermit | None, tuple[BreakerTransition, ...]]:
    permit = None if items[0] == "" else BreakerPermit(probe=items[0] == "1", token=float(items[1]))
    return permit, _transitions(items[2:])


@dataclass(frozen=True, slots=True)
class _Seed:
    """Operation: store ``record`` (seeds the local fallback with the last shared copy);
    None forgets the local record."""

    record: object

    def apply(self, state: object | None, now: float) -> tuple[object, None]:
        return self.record, None


@dataclass(frozen=True, slots=True)
class _Cached:
    record: object  # in the caller's clock
    read_at: float  # the timer's reading when it was read
    offset: float  # caller's now minus the server's now at that read


# -- the backend ----------------------------------------------------------------------


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
        "_cache",
        "_client",
        "_clock",
        "_corrupt",
        "_degraded_since",
        "_last_error",
        "_last_warned",
        "_ledger_bases",
        "_ledger_ttl",
        "_local",
        "_local_ops",
        "_log",
        "_next_retry",
        "_outages",
        "_owns_client",
        "_peek_max_age_s",
        "_recoveries",
        "_recovering",
        "_redis_errors",
        "_remote_ops",
        "_retry_interval_s",
        "_rkeys",
        "_timer",
        "_warn_interval_s",
        "prefix",
        "time_scale",
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
        try:
            import redis.asyncio as aioredis
            from redis import exceptions
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
        except ImportError as exc:
            raise ImportError(_INSTALL_HINT) from exc
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
        self.prefix = prefix
        self.time_scale = float(time_scale)
        self._clock: TimeSource = clock
        self._ledger_ttl = _f(ledger_ttl_s)
        self._retry_interval_s = retry_interval_s
        self._warn_interval_s = warn_interval_s
        self._peek_max_age_s = peek_max_age_s
        self._timer = timer
        self._owns_client = client is None
        if client is None:
            # No retries inside the client: while Redis is down a request must not wait
            # through a backoff schedule; this class retries on its own interval.
            client = aioredis.Redis.from_url(
                url,
                decode_responses=True,
                socket_timeout=socket_timeout_s,
                socket_connect_timeout=socket_timeout_s,
                retry=Retry(NoBackoff(), 0),
                retry_on_timeout=False,
            )
        self._client: Any = client
        self._redis_errors: tuple[type[BaseException], ...] = (
            exceptions.RedisError,
            OSError,
            TimeoutError,
        )
        self._rkeys: dict[str, str] = {}
        self._cache: dict[str, _Cached] = {}
        self._local = MemoryState()
        self._ledger_bases: dict[str, LedgerState] = {}
        self._corrupt: dict[str, float] = {}  # key -> when its corruption was last logged
        self._degraded_since: float | None = None
        self._next_retry = 0.0
        self._last_warned: float | None = None
        self._last_error = ""
        self._recovering = False
        self._remote_ops = 0
        self._local_ops = 0
        self._outages = 0
        self._recoveries = 0
        self._log: Any = get_logger("imagegate.state")

    # -- keys ---------------------------------------------------------------------------

    def redis_key(self, key: str) -> str:
        """The Redis key that holds the record of ``key`` (with its hash tag).

        ``breaker:{route}:{size}`` → ``{prefix}:breaker:{{route}}:{size}``;
        ``ratelimit:{quota}`` → ``{prefix}:ratelimit:{{quota}}``; likewise ``ledger:``.
        """
        rkey = self._rkeys.get(key)
        if rkey is None:
            kind, sep, rest = key.partition(":")
            if kind == "breaker" and ":" in rest:
                route, _, size = rest.rpartition(":")
                rkey = f"{self.prefix}:breaker:{{{route}}}:{size}"
            elif sep and rest:
                rkey = f"{self.prefix}:{kind}:{{{rest}}}"
            else:
                rkey = f"{self.prefix}:{{{key}}}"
            self._rkeys[key] = rkey
        return rkey

    # -- the StateBackend interface -----------------------------------------------------

    async def apply(self, key: str, op: Operation[S, R], *, now: float) -> R:
        """Apply ``op`` to the record under ``key`` atomically, in Redis when it answers,
        else on local state (never raising a Redis or connection error)."""
        call = _call_for(op, self._ledger_ttl)
        if self._degraded_since is not None:
            if self._recovering or self._timer() < self._next_retry:
                return await self._apply_local(key, op, now)
            if not await self._recover():
                return await self._apply_local(key, op, now)
        try:
            result = cast("R", await self._apply_remote(key, call, now))
        except self._redis_errors as exc:
            return await self._on_error(key, op, exc, now)
        if key in self._corrupt:
            await self._repaired(key)
        return result

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
        calls = [_call_for(op, self._ledger_ttl) for _, op in ops]
        if self._degraded_since is not None and (
            self._recovering or self._timer() < self._next_retry or not await self._recover()
        ):
            return [await self._apply_local(key, op, now) for key, op in ops]
        head = self._head(now)
        try:
            replies = await self._eval_many(
                [
                    (c.script, self.redis_key(key), (*head, *c.args))
                    for (key, _), c in zip(ops, calls, strict=True)
                ]
            )
        except self._redis_errors as exc:
            self._failed(exc)
            return [await self._apply_local(key, op, now) for key, op in ops]
        results = []
        for (key, op), call, reply in zip(ops, calls, replies, strict=True):
            if isinstance(reply, BaseException):
                results.append(await self._on_error(key, op, reply, now))
            else:
                results.append(self._absorb(key, call, reply, now))
                if key in self._corrupt:
                    await self._repaired(key)
        return results

    def peek(self, key: str) -> object | None:
        """The latest record this process knows for ``key``, in the caller's clock.

        While degraded: the local record. A copy older than ``peek_max_age_s`` is returned
        without other workers' probe permits (they may have ended since).
        """
        if self._degraded_since is not None:
            local = self._local.peek(key)
            if local is not None:
                return local
        cached = self._cache.get(key)
        if cached is None:
            return None
        record = cached.record
        if (
            isinstance(record, BreakerRecord)
            and record.probes
            and self._timer() - cached.read_at > self._peek_max_age_s
        ):
            return replace(record, probes=())
        return record

    # -- status -------------------------------------------------------------------------

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and decisions are made on local state."""
        return self._degraded_since is not None

    def statistics(self) -> RedisStateStatistics:
        """Whether it is degraded, since when, and how many operations went where."""
        since = self._degraded_since
        return RedisStateStatistics(
            degraded=since is not None,
            degraded_for_s=0.0 if since is None else max(0.0, self._timer() - since),
            last_error=self._last_error,
            remote_operations=self._remote_ops,
            local_operations=self._local_ops,
            outages=self._outages,
            recoveries=self._recoveries,
            keys_cached=len(self._cache),
        )

    def status(self) -> RedisStateStatistics:
        """Same as `statistics`."""
        return self.statistics()

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

    # -- remote -------------------------------------------------------------------------

    async def _eval(self, script: str, rkey: str, args: Sequence[str]) -> list[str]:
        from redis.exceptions import NoScriptError

        code = _SCRIPTS[script]
        try:
            reply = await self._client.evalsha(code.sha, 1, rkey, *args)
        except NoScriptError:
            # EVAL runs it and caches it on that server: later calls find the SHA.
            reply = await self._client.eval(code.text, 1, rkey, *args)
        return cast("list[str]", reply)

    async def _eval_many(
        self, calls: Sequence[tuple[str, str, Sequence[str]]]
    ) -> list[list[str] | BaseException]:
        """Run ``(script, rkey, args)`` calls in one pipeline; a script's error is its
        reply. Scripts the server lacks are sent again by EVAL, in a second pipeline."""
        from redis.exceptions import NoScriptError

        pipe = self._client.pipeline(transaction=False)
        for script, rkey, args in calls:
            pipe.evalsha(_SCRIPTS[script].sha, 1, rkey, *args)
        replies: list[Any] = await pipe.execute(raise_on_error=False)
        missing = [k for k, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
        if missing:
            pipe = self._client.pipeline(transaction=False)
            for k in missing:
                script, rkey, args = calls[k]
                pipe.eval(_SCRIPTS[script].text, 1, rkey, *args)
            for k, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
                replies[k] = reply
        return replies

    def _head(self, now: float) -> tuple[str, str, str]:
        caller_now = "" if self._clock == "server" else _f(now)
        return caller_now, _f(self.time_scale), str(EPOCH_S)

    async def _apply_remote(self, key: str, call: _Call, now: float) -> Any:
        reply = await self._eval(call.script, self.redis_key(key), (*self._head(now), *call.args))
        return self._absorb(key, call, reply, now)

    def _absorb(self, key: str, call: _Call, reply: Sequence[str], now: float) -> Any:
        """Decode a script's reply: keep the record for `peek`, return the result."""
        server_now = float(reply[0])
        count = int(reply[1])
        result = call.result(reply[2 : 2 + count])
        record = call.record(_fields(reply, 2 + count))
        offset = now - server_now
        self._remote_ops += 1
        if record is None:
            self._cache.pop(key, None)
        else:
            self._cache[key] = _Cached(_shift(record, offset), self._timer(), offset)
        return result

    # -- local fallback -----------------------------------------------------------------

    async def _apply_local(self, key: str, op: Operation[S, R], now: float) -> R:
        local = self._local
        if local.peek(key) is None:
            cached = self._cache.get(key)
            seed = cached.record if cached is not None else None
            if seed is not None:
                await local.apply(key, _Seed(seed), now=now)
            if isinstance(op, LedgerReserve | LedgerSettle | LedgerUnreserve):
                base = seed if isinstance(seed, LedgerState) else LedgerState()
                self._ledger_bases.setdefault(key, base)
        if isinstance(op, BreakerReport) and op.probe_token is not None:
            op = cast("Operation[S, R]", self._local_probe(key, op))
        # MemoryState.apply never suspends, so this runs atomically like the remote script.
        result = await local.apply(key, op, now=now)
        self._local_ops += 1
        record = local.peek(key)
        if record is not None:
            offset = self._cache[key].offset if key in self._cache else 0.0
            self._cache[key] = _Cached(record, self._timer(), offset)
        return result

    def _local_probe(self, key: str, op: BreakerReport) -> BreakerReport:
        """A probe permit Redis issued carries a server-clock token; the local copy holds
        it shifted into the caller's clock (by the offset of that read)."""
        record = self._local.peek(key)
        cached = self._cache.get(key)
        if not isinstance(record, BreakerRecord) or cached is None or op.probe_token is None:
            return op
        if op.probe_token in record.probes:
            return op
        shifted = op.probe_token + cached.offset
        return replace(op, probe_token=shifted) if shifted in record.probes else op

    async def _on_error(self, key: str, op: Operation[S, R], exc: BaseException, now: float) -> R:
        """A script's error: a corrupt record affects its key only, a refused argument is
        the caller's bug, anything else means Redis is unreachable."""
        if _script_error(exc, _REFUSED):
            raise ValueError(f"Redis refused the operation: {exc}") from exc
        if _script_error(exc, _CORRUPT):
            self._corrupted(key, exc)
        else:
            self._failed(exc)
        return await self._apply_local(key, op, now)

    def _corrupted(self, key: str, exc: BaseException) -> None:
        now = self._timer()
        self._last_error = f"{type(exc).__name__}: {exc}"
        last = self._corrupt.get(key)
        if last is None or now - last >= self._warn_interval_s:
            self._corrupt[key] = now
            self._log.error(
                "state.corrupt_record",
                backend="redis",
                key=self.redis_key(key),
                error=self._last_error,
                note="deciding on local state for this key until the record is repaired, "
                "deleted or expires",
            )

    async def _repaired(self, key: str) -> None:
        """The key answers again: what its local ledger booked meanwhile is added to the
        shared one, and its local copy is dropped (Redis is authoritative again)."""
        del self._corrupt[key]
        base = self._ledger_bases.pop(key, None)
        local = self._local.peek(key)
        await self._local.apply(key, _Seed(None), now=0.0)
        self._log.warning("state.record_repaired", backend="redis", key=self.redis_key(key))
        if base is None or not isinstance(local, LedgerState) or local == base:
            return
        try:
            await self._eval(
                "ledger_merge",
                self.redis_key(key),
                (*self._head(0.0), self._ledger_ttl, *_delta_args(base, local)),
            )
        except self._redis_errors as exc:
            self._log.error(
                "state.merge_lost", backend="redis", key=self.redis_key(key), error=str(exc)
            )

    def _failed(self, exc: BaseException) -> None:
        now = self._timer()
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._next_retry = now + self._retry_interval_s
        if self._degraded_since is None:
            self._degraded_since = now
            self._outages += 1
        if self._last_warned is None or now - self._last_warned >= self._warn_interval_s:
            self._last_warned = now
            self._log.warning(
                "state.degraded",
                backend="redis",
                prefix=self.prefix,
                error=self._last_error,
                retry_in_s=self._retry_interval_s,
                note="deciding on local state until Redis answers again",
            )

    async def _recover(self) -> bool:
        """Try Redis again: add the local ledger changes to the shared ledgers, then
        switch back. False (still degraded) when Redis does not answer."""
        self._recovering = True
        try:
            await self._client.ping()
            # Ledger changes made while a merge is in flight are merged on the next pass;
            # the switch back happens with nothing left to merge, without awaiting.
            while True:
                pending = self._ledger_deltas()
                if not pending:
                    break
                for index, (key, _base, args) in enumerate(pending):
                    try:
                        await self._eval(
                            "ledger_merge",
                            self.redis_key(key),
                            (*self._head(0.0), self._ledger_ttl, *args),
                        )
                    except self._redis_errors as exc:
                        if not _script_error(exc, _CORRUPT):
                            for k, b, _ in pending[index:]:
                                self._ledger_bases[k] = b
                            raise
                        # Nothing sound to add to: that key alone stays local; the rest recovers.
                        self._corrupted(key, exc)
                    except BaseException:
                        for k, b, _ in pending[index:]:
                            self._ledger_bases[k] = b
                        raise
        except self._redis_errors as exc:
            self._failed(exc)
            return False
        finally:
            self._recovering = False
        since = self._degraded_since
        outage_s = 0.0 if since is None else self._timer() - since
        self._degraded_since = None
        self._local = MemoryState()
        self._ledger_bases.clear()
        self._recoveries += 1
        self._log.warning(
            "state.recovered", backend="redis", prefix=self.prefix, outage_s=round(outage_s, 3)
        )
        return True

    def _ledger_deltas(self) -> list[tuple[str, LedgerState, tuple[str, ...]]]:
        """Per ledger changed locally: its key, the base it was measured from, and the
        merge arguments. The bases move to the current local records."""
        pending = []
        for key, base in list(self._ledger_bases.items()):
            local = self._local.peek(key)
            if not isinstance(local, LedgerState) or local == base:
                continue
            pending.append((key, base, _delta_args(base, local)))
            self._ledger_bases[key] = local
        return pending


def _delta_args(base: LedgerState, local: LedgerState) -> tuple[str, ...]:
    """The ``ledger_merge`` arguments that add what ``local`` booked since ``base``."""
    before = {route: (b, p, a) for route, b, p, a in base.by_route}
    routes: list[str] = []
    for route, billed, possibly, attempts in local.by_route:
        b0, p0, a0 = before.get(route, (0.0, 0.0, 0))
        if (billed, possibly, attempts) != (b0, p0, a0):
            routes += [route, _f(billed - b0), _f(possibly - p0), str(attempts - a0)]
    return (
        _f(local.billed_usd - base.billed_usd),
        _f(local.possibly_billed_usd - base.possibly_billed_usd),
        _f(local.reserved_usd - base.reserved_usd),
        str(local.open_reservations - base.open_reservations),
        *routes,
    )

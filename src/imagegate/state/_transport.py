"""How `RedisState` talks to Redis: the client, which errors mean no answer, and scripts
sent by SHA1 (``EVALSHA``), or by ``EVAL`` to a server that does not know one yet."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import Any, Final, cast

from imagegate._extras import install_hint
from imagegate.state.codec import RemoteCall, Script, codec_for_kind, float_arg

__all__ = [
    "CORRUPT",
    "EPOCH_S",
    "REFUSED",
    "Transport",
    "connect",
    "redis_errors",
    "run_script",
    "run_scripts",
    "script_error",
]

EPOCH_S: Final = 1_700_000_000
"""Unix time the server clock is counted from (keeps clock values small and exact)."""

_INSTALL_HINT: Final = f"RedisState needs the redis client (redis>=5): {install_hint('redis')}"

# Error codes of the scripts (prelude.lua): not a connection problem, so not an outage.
CORRUPT: Final = "CORRUPT_RECORD"
REFUSED: Final = "REFUSED_ARGUMENT"


def script_error(exc: BaseException, code: str) -> bool:
    """Whether ``exc`` is a script's refusal with ``code`` (`CORRUPT` or `REFUSED`)."""
    return str(exc).startswith(code)


def redis_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean Redis did not answer (any Redis error, a socket's, a time-out).

    Raises:
        ImportError: the ``redis`` package is missing (with the install hint).
    """
    try:
        # What `connect` needs too: a missing client is reported before anything else.
        for module in ("redis.asyncio", "redis.asyncio.retry", "redis.backoff"):
            importlib.import_module(module)
        from redis import exceptions
    except ImportError as exc:
        raise ImportError(_INSTALL_HINT) from exc
    return exceptions.RedisError, OSError, TimeoutError


def connect(url: str, *, socket_timeout_s: float) -> Any:
    """A ``redis.asyncio`` client for ``url`` that decodes responses and never retries."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    # No retries inside the client: while Redis is down a request must not wait
    # through a backoff schedule; RedisState retries on its own interval.
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout_s,
        socket_connect_timeout=socket_timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


class Transport:
    """Scripts to one Redis: the key names, the time base every script starts with, and
    the calls, one by one or in one pipeline.

    Args:
        client: A ``redis.asyncio`` client that decodes responses.
        prefix: Starts every key.
        caller_clock: True: scripts take the caller's ``now``; False: the server's.
        time_scale: Real seconds per clock second.
    """

    __slots__ = ("_rkeys", "caller_clock", "client", "prefix", "time_scale")

    def __init__(self, client: Any, *, prefix: str, caller_clock: bool, time_scale: float) -> None:
        self.client = client
        self.prefix = prefix
        self.caller_clock = caller_clock
        self.time_scale = time_scale
        self._rkeys: dict[str, str] = {}

    def key(self, key: str) -> str:
        """The Redis key of ``key`` (see `RedisState.redis_key`)."""
        rkey = self._rkeys.get(key)
        if rkey is None:
            kind, sep, rest = key.partition(":")
            if sep and rest:
                codec = codec_for_kind(kind)
                tagged = f"{{{rest}}}" if codec is None else codec.hash_tag(rest)
                rkey = f"{self.prefix}:{kind}:{tagged}"
            else:
                rkey = f"{self.prefix}:{{{key}}}"
            self._rkeys[key] = rkey
        return rkey

    def _args(self, call: RemoteCall, now: float) -> tuple[str, ...]:
        caller_now = float_arg(now) if self.caller_clock else ""
        return caller_now, float_arg(self.time_scale), str(EPOCH_S), *call.args

    async def run(self, key: str, call: RemoteCall, now: float) -> list[str]:
        """Run ``call`` on the record of ``key`` and return the script's reply."""
        return await run_script(self.client, call.script, self.key(key), self._args(call, now))

    async def run_many(
        self, calls: Sequence[tuple[str, RemoteCall]], now: float
    ) -> list[list[str] | BaseException]:
        """Run each ``(key, call)`` in one pipeline; a script's error is its reply."""
        return await run_scripts(
            self.client,
            [(call.script, self.key(key), self._args(call, now)) for key, call in calls],
        )


async def run_script(client: Any, script: Script, rkey: str, args: Sequence[str]) -> list[str]:
    """Run ``script`` on the key ``rkey`` and return its reply."""
    from redis.exceptions import NoScriptError

    try:
        reply = await client.evalsha(script.sha, 1, rkey, *args)
    except NoScriptError:
        # EVAL runs it and caches it on that server: later calls find the SHA.
        reply = await client.eval(script.text, 1, rkey, *args)
    return cast("list[str]", reply)


async def run_scripts(
    client: Any, calls: Sequence[tuple[Script, str, Sequence[str]]]
) -> list[list[str] | BaseException]:
    """Run ``(script, rkey, args)`` calls in one pipeline; a script's error is its reply.
    Scripts the server lacks are sent again by EVAL, in a second pipeline."""
    from redis.exceptions import NoScriptError

    pipe = client.pipeline(transaction=False)
    for script, rkey, args in calls:
        pipe.evalsha(script.sha, 1, rkey, *args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    missing = [k for k, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        pipe = client.pipeline(transaction=False)
        for k in missing:
            script, rkey, args = calls[k]
            pipe.eval(script.text, 1, rkey, *args)
        for k, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
            replies[k] = reply
    return replies

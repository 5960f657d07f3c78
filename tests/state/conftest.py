"""Fixtures for the shared-state tests: real ``redis-server`` processes (see ``_redis``;
the session's own server and the key prefix are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from imagegate.state import RedisState

from ._redis import RedisServer, redis_binary


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which may kill and restart it."""
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
async def shared(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisState]:
    """A RedisState on the session server that takes the caller's ``now`` (exact tests)."""
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        yield state

"""Fixtures for the shared-state tests: real ``redis-server`` processes (see ``_redis``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from imagegate.state import RedisState

from ._redis import RedisServer, redis_binary


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session; tests keep apart by key prefix."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for one test, which may kill and restart it."""
    server = RedisServer(redis_binary(), tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own."""
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def shared(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisState]:
    """A RedisState on the session server that takes the caller's ``now`` (exact tests)."""
    async with RedisState(redis_server.url, prefix=prefix, clock="caller") as state:
        yield state

"""Fixtures for the security tests: a real ``redis-server`` (the shared-state tests' own)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from state._redis import RedisServer, redis_binary


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the module; tests keep apart by key prefix."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own."""
    return f"t{uuid.uuid4().hex[:10]}"

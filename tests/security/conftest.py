"""Fixtures for the security tests: hostile upstreams of the tests' own (aiohttp servers on
127.0.0.1) and a real ``redis-server`` (the shared-state tests' own)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from state._redis import RedisServer, redis_binary

Serve = Callable[[web.Application], Awaitable[str]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Starts aiohttp apps on 127.0.0.1 (a free port each); yields a starter returning the URL."""
    servers: list[TestServer] = []

    async def start(app: web.Application) -> str:
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("")).rstrip("/")

    yield start
    for server in servers:
        await server.close()


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

"""Fixtures for the contract tests: a replay server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._replay import Replay


@pytest.fixture
async def replay() -> AsyncIterator[Replay]:
    """A running replay server, closed after the test."""
    server = Replay()
    await server.start()
    yield server
    await server.close()

"""Shared fixtures: a clean provider environment for every test, a fake clock that jumps
when every task is blocked, and a fake provider."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from imagegate import FakeClock
from imagegate.testing import FakeProvider
from state._redis import RedisServer, redis_binary

# Everything the SDKs or the adapters read from the environment: cleared for every test,
# so keys, endpoints or Vertex switches on the machine never leak into a run.
PROVIDER_ENV = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_COMPATIBLE_API_KEY",
    "OPENAI_COMPATIBLE_BASE_URL",
    "BFL_API_KEY",
    "BFL_BASE_URL",
    "IMAGEGATE_LOG_LEVEL",
    "IMAGEGATE_CATALOGUE",
)

# The date routers judge model lifecycles on (docs/catalogue.md): fixed, so the suite does
# not start failing the day a model it routes to is retired. Every model the suite routes
# to was current then; tests of the lifecycle pass their own `today`.
SUITE_TODAY = "2026-05-01"


@pytest.fixture(autouse=True)
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider configuration from the machine reaches the SDKs or the adapters."""
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEGATE_TODAY", SUITE_TODAY)
    # Benchmarks in the suite run their contenders in this process (the tests that run
    # them in worker processes say --jobs), so a small run pays for no process start.
    monkeypatch.setenv("IMAGEGATE_BENCH_JOBS", "1")


@pytest.fixture(autouse=True)
def _imagegate_logging_restored() -> Iterator[None]:
    """The ``imagegate`` logger as it was before the test: a CLI test's ``main()``
    configures it for the process (a handler on that test's captured stderr, a level),
    which must not outlive the test."""
    logger = logging.getLogger("imagegate")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    for handler in logger.handlers[:]:
        if handler not in handlers:
            logger.removeHandler(handler)
    logger.setLevel(level)
    logger.propagate = propagate


@pytest.fixture
async def clock() -> AsyncIterator[FakeClock]:
    """A FakeClock with autojump: scripted latencies cost no real time."""
    async with FakeClock(autojump=True) as fake_clock:
        yield fake_clock


@pytest.fixture
def fake(clock: FakeClock) -> FakeProvider:
    """A FakeProvider sleeping on the test's fake clock."""
    return FakeProvider(clock=clock)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server for the session (tests/state, tests/security); tests keep apart by
    key prefix."""
    server = RedisServer(redis_binary(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def prefix() -> str:
    """A key prefix of the test's own."""
    return f"t{uuid.uuid4().hex[:10]}"

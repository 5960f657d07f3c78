"""Fixtures for the benchmark tests: a clean environment, fast time, quiet logs.

The benchmark's tests check that each contender runs and that the oracle is a true lower
bound on small runs; they never assert timings.
"""

from __future__ import annotations

import pytest

FAST = 0.001
"""Real seconds per simulated second: a 600 s deadline lasts 0.6 s."""

_ENV = (
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
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No provider configuration from the machine reaches the contenders; logs stay quiet."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGEGATE_LOG_LEVEL", "error")

"""Fixtures for the benchmark tests: a clean environment, fast time, quiet logs.

The benchmark's tests check that each contender runs and that the oracle is a true lower
bound on small runs; they never assert timings.
"""

from __future__ import annotations

import pytest

FAST = 0.001
"""Real seconds per simulated second: a 600 s deadline lasts 0.6 s."""


@pytest.fixture(autouse=True)
def _quiet_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs stay quiet (tests/conftest.py already clears the provider environment)."""
    monkeypatch.setenv("IMAGEGATE_LOG_LEVEL", "error")

"""Fixtures for the benchmark tests: a clean environment, fast time, quiet logs.

The benchmark's tests check that each contender runs and that the oracle is a true lower
bound on small runs; they never assert timings.
"""

from __future__ import annotations

from importlib.util import find_spec

import pytest

FAST = 0.001
"""Real seconds per simulated second: a 600 s deadline lasts 0.6 s."""


def needs(module: str) -> pytest.MarkDecorator:
    """Skip unless ``module`` (one of the bench extra's) is installed.

    The check finds the module without importing it: importing LiteLLM before the
    benchmark sets it up fetches its price list over the network.
    """
    return pytest.mark.skipif(
        find_spec(module) is None, reason=f"{module} is not installed (the bench extra)"
    )


@pytest.fixture(autouse=True)
def _quiet_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Logs stay quiet (tests/conftest.py already clears the provider environment)."""
    monkeypatch.setenv("IMAGEGATE_LOG_LEVEL", "error")

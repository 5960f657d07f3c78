"""imagegate logs like a library: through stdlib logging only, under ``imagegate.*``.

Each case runs in a fresh interpreter, so the process's logging is exactly what the
script sets up: nothing (an application that never configured logging) or
``logging.basicConfig(level=DEBUG)``. The script drives a router against the simulator
through a 4K timeout that steps down, a 503, a blocked prompt and a request that fails
on every route, so events at every level are emitted.
"""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imagegate._logging import JsonFormatter, configure_cli_logging, get_logger
from security._leaky import KEYS

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, logging, sys
    SETUP
    KEYS = KEYS_JSON
    from imagegate import Route, Router
    from imagegate.errors import ImageGateError
    from imagegate.testing.simulator import Simulator

    async def main():
        async with Simulator("healthy", seed=0, time_scale=0.001) as sim:
            key = sim.api_key("gemini")
            route = Route("gemini", model="gemini-3-pro-image",
                          base_url=sim.base_url("gemini"), api_key=key)
            # The security tests' keys, which the simulator refuses (401): logged, masked.
            wrong = [Route(p, model=m, base_url=sim.base_url(p), api_key=KEYS[p], backup=True)
                     for p, m in (("openai", "gpt-image-1.5"), ("flux", "flux-pro-1.1"))]
            async with Router([route, *wrong], seed=0, attempt_timeout_s=30.0,
                              today="2026-05-01") as router:
                for prompt in ("a cat [sim:success]", "a dog [sim:overloaded]",
                               "[sim:prompt_blocked] a fish", "[sim:internal] a bird"):
                    try:
                        await router.generate(prompt, size="4K", deadline=60)
                    except ImageGateError:
                        pass
            with open(sys.argv[1], "w") as out:
                json.dump({"key": key}, out)

    asyncio.run(main())
    """
)


def _run(setup: str, tmp_path: Path) -> tuple[str, str, str]:
    script = tmp_path / "script.py"
    script.write_text(
        SCRIPT.replace("SETUP", setup).replace("KEYS_JSON", json.dumps(KEYS)), encoding="utf-8"
    )
    keyfile = tmp_path / "key.json"
    done = subprocess.run(
        [sys.executable, str(script), str(keyfile)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr, json.loads(keyfile.read_text())["key"]


def test_unconfigured_logging_writes_nothing(tmp_path: Path) -> None:
    """With logging never configured, no event reaches stdout or stderr."""
    stdout, stderr, _ = _run("", tmp_path)
    assert stdout == ""
    assert stderr == ""


def test_events_arrive_through_stdlib_logging(tmp_path: Path) -> None:
    """With ``basicConfig(level=DEBUG)`` the events arrive under ``imagegate.*``, with the
    fields an operator needs, and without the key."""
    setup = "logging.basicConfig(level=logging.DEBUG, format='%(levelname)s %(name)s %(message)s')"
    stdout, stderr, key = _run(setup, tmp_path)
    assert stdout == ""
    ours = [line for line in stderr.splitlines() if " imagegate" in line]
    assert key not in stderr
    for secret in KEYS.values():
        assert secret not in stderr
    assert "AuthenticationError" in stderr  # the wrong keys were used, and logged masked
    events = {line.split()[2] for line in ours if len(line.split()) > 2}
    assert {"attempt.end", "request.end"} <= events
    loggers = {line.split()[1] for line in ours}
    assert all(name == "imagegate" or name.startswith("imagegate.") for name in loggers)
    ends = [line for line in ours if " attempt.end " in line]
    assert any("outcome=success" in e and "duration_s=" in e for e in ends)
    assert any("status=503" in e and "error=" in e and "billing=" in e for e in ends)
    assert any(" request.end " in line and "WARNING" in line for line in ours)


@pytest.mark.parametrize("json_lines", [False, True])
def test_the_cli_logs_to_stderr(json_lines: bool) -> None:
    """``configure_cli_logging`` writes imagegate's events to the stream given, as text or
    JSON lines, at the level asked for."""
    out = io.StringIO()
    logger = logging.getLogger("imagegate")
    before = list(logger.handlers), logger.level
    try:
        configure_cli_logging(2, json_lines=json_lines, stream=out)
        get_logger("imagegate.test", route="r").debug("thing.done", cost_usd=0.1)
    finally:
        for handler in logger.handlers[:]:
            if handler not in before[0]:
                logger.removeHandler(handler)
        logger.setLevel(before[1])
    text = out.getvalue()
    if json_lines:
        document = json.loads(text)
        assert document["event"] == "thing.done"
        assert (document["route"], document["cost_usd"], document["level"]) == ("r", 0.1, "debug")
        assert document["logger"] == "imagegate.test"
    else:
        assert "DEBUG   imagegate.test: thing.done route=r cost_usd=0.1" in text
    assert isinstance(JsonFormatter(), logging.Formatter)

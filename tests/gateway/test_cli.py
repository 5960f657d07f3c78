"""`imagegate serve` as a process: it listens, answers, exports metrics, and exits 0 on
SIGTERM."""

from __future__ import annotations

import importlib.util
import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from imagegate.gateway import hash_key
from state._redis import free_port

KEY = "igw-cli-test-key"
# /metrics is served when the OpenTelemetry SDK's Prometheus exporter is installed (dev).
try:
    PROMETHEUS = importlib.util.find_spec("opentelemetry.exporter.prometheus") is not None
except ModuleNotFoundError:  # no opentelemetry at all
    PROMETHEUS = False


def test_serve_answers_and_drains_on_sigterm(tmp_path: Path) -> None:
    """A fake route behind the CLI's gateway: an image, imagegate's metrics (with the
    Prometheus exporter installed), a clean exit."""
    config = tmp_path / "gateway.toml"
    config.write_text(
        '[[routes]]\nprovider = "fake"\nmodel = "any"\n\n'
        '[gateway]\ngrace_s = 5\n[gateway.models]\nm = ["fake/any"]\n'
        f'[gateway.clients]\nalice = {{ key_sha256 = "{hash_key(KEY)}" }}\n',
        encoding="utf-8",
    )
    port = free_port()
    command = [sys.executable, "-m", "imagegate.cli", "-v", "serve", "--config", str(config)]
    process = subprocess.Popen([*command, "--port", str(port)], stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # blocks until it listens (or fails)
        assert f"on http://127.0.0.1:{port}" in first
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/images/generations",
            data=json.dumps({"model": "m", "prompt": "a quiet fox"}).encode(),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["x-imagegate-route"] == "fake/any"
            assert json.load(response)["data"][0]["b64_json"]
        if PROMETHEUS:
            metrics = f"http://127.0.0.1:{port}/metrics"
            with urllib.request.urlopen(metrics, timeout=30) as response:
                assert b"imagegate_attempts_total" in response.read()
        process.send_signal(signal.SIGTERM)
        _, rest = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
    assert process.returncode == 0
    assert "gateway.request" in rest
    assert "client=alice" in rest
    assert KEY not in rest
    assert "quiet fox" not in rest

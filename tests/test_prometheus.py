"""The Prometheus recipe of docs/observability.md, run as written: three lines give a
service ``/metrics`` with imagegate's metrics (in a fresh interpreter, as the global
meter provider is set once per process)."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("opentelemetry.exporter.prometheus", reason="the dev extra's OpenTelemetry SDK")

SCRIPT = textwrap.dedent(
    """
    import asyncio, sys, urllib.request
    from opentelemetry import metrics
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider
    from prometheus_client import start_http_server

    # the recipe
    start_http_server(int(sys.argv[1]), addr="127.0.0.1")
    metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))

    from imagegate import FakeClock, Route, Router
    from imagegate.testing import FakeProvider, succeed

    async def main():
        async with FakeClock(autojump=True) as clock:
            fake = FakeProvider(clock=clock, default=succeed(latency_s=12.0))
            async with Router([Route(fake, model="m")], clock=clock, seed=0) as router:
                for i in range(3):
                    await router.generate(f"p{i}", size="2K")
                url = f"http://127.0.0.1:{sys.argv[1]}/metrics"
                print(urllib.request.urlopen(url, timeout=10).read().decode())

    asyncio.run(main())
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_serves_imagegate_metrics(tmp_path: Path) -> None:
    """Requests, attempts, durations, cost and breaker state, as Prometheus reads them."""
    script = tmp_path / "serve.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script), str(_free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    text = done.stdout
    requests = next(
        line for line in text.splitlines() if line.startswith("imagegate_requests_total{")
    )
    assert 'imagegate_outcome="image"' in requests
    assert requests.endswith(" 3.0")
    assert "imagegate_attempt_duration_seconds_bucket{" in text
    assert "imagegate_request_duration_seconds_count{" in text
    assert "imagegate_cost_USD_total{" in text
    assert "imagegate_breaker_state{" in text

"""OpenTelemetry: one span per request, one child per attempt, and the metrics.

Global tracer and meter providers can be set once per process, so each case runs in a
fresh interpreter with the OpenTelemetry SDK's in-memory exporters and prints what they
hold as JSON.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk", reason="the dev extra's OpenTelemetry SDK")

SCRIPT = textwrap.dedent(
    """
    import asyncio, json, sys
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))

    from imagegate import FakeClock, HedgePolicy, Route, Router
    from imagegate.errors import Overloaded
    from imagegate.testing import FakeProvider, fail, succeed

    async def main():
        async with FakeClock(autojump=True) as clock:
            fake = FakeProvider(clock=clock)
            fake.script("4K", succeed(latency_s=500.0))
            fake.script("2K", succeed(latency_s=60.0))
            hedge = HedgePolicy(size="2K", delay_s=100.0)
            route = Route(fake, model="m")
            async with Router([route], clock=clock, seed=0, hedge=hedge) as router:
                tracer = trace.get_tracer("app")
                with tracer.start_as_current_span("app.handler"):
                    result = await router.generate("a lighthouse", size="4K")
                fake.default = fail(Overloaded("busy", status=503))
                try:
                    await router.generate("a storm", size="1K", allow_downgrade=False)
                except Exception as exc:
                    failed = type(exc).__name__
                data = reader.get_metrics_data()
        spans = [
            {"name": s.name, "id": s.context.span_id,
             "parent": s.parent.span_id if s.parent else None,
             "start": s.start_time, "end": s.end_time, "kind": s.kind.name,
             "status": s.status.status_code.name, "attributes": dict(s.attributes)}
            for s in exporter.get_finished_spans()
        ]
        points = []
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    for p in m.data.data_points:
                        value = getattr(p, "value", None)
                        if value is None:
                            value = p.count
                        attributes = dict(p.attributes)
                        points.append({"name": m.name, "attributes": attributes, "value": value})
        print(json.dumps({"spans": spans, "points": points, "failed": failed,
                          "result": result.to_dict()}))

    asyncio.run(main())
    """
)


def _run(tmp_path: Path) -> dict[str, Any]:
    script = tmp_path / "script.py"
    script.write_text(SCRIPT, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _points(report: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [p for p in report["points"] if p["name"] == name]


def test_a_hedged_downgraded_request_is_one_span_with_a_child_per_attempt(
    tmp_path: Path,
) -> None:
    """The request span sits under the application's span; the 4K main attempt and the
    2K hedge are its children and overlap; attributes follow the GenAI conventions."""
    report = _run(tmp_path)
    spans = report["spans"]
    app = next(s for s in spans if s["name"] == "app.handler")
    requests = [s for s in spans if s["name"] == "imagegate.generate"]
    assert len(requests) == 2
    hedged = next(r for r in requests if r["parent"] == app["id"])
    children = sorted(
        (s for s in spans if s["parent"] == hedged["id"]),
        key=lambda s: s["attributes"]["imagegate.size"],
    )
    assert [c["attributes"]["imagegate.size"] for c in children] == ["2K", "4K"]
    two_k, four_k = children
    assert two_k["start"] < four_k["end"]  # siblings that overlap in time
    assert four_k["start"] < two_k["start"]
    assert (two_k["name"], two_k["kind"]) == ("generate_content m", "CLIENT")
    assert two_k["attributes"]["imagegate.role"] == "hedge"
    assert four_k["attributes"]["imagegate.role"] == "main"
    assert four_k["attributes"]["imagegate.outcome"] == "cancelled"
    assert four_k["attributes"]["imagegate.billing"] == "possibly_billed"
    assert two_k["attributes"]["gen_ai.output.type"] == "image"
    assert two_k["attributes"]["gen_ai.request.model"] == "m"
    assert two_k["attributes"]["gen_ai.operation.name"] == "generate_content"
    assert (two_k["end"] - two_k["start"]) / 1e9 == 60.0  # the clock's seconds
    attrs = hedged["attributes"]
    assert (attrs["imagegate.requested_size"], attrs["imagegate.size"]) == ("4K", "2K")
    assert attrs["imagegate.downgraded"] is True
    assert attrs["imagegate.attempts"] == 2
    assert attrs["imagegate.cost_usd"] == 0.02
    assert hedged["status"] == "UNSET"
    assert (hedged["end"] - hedged["start"]) / 1e9 == 160.0
    failed = next(r for r in requests if r is not hedged)
    assert failed["status"] == "ERROR"
    assert failed["attributes"]["error.type"] == report["failed"] == "AllRoutesFailed"
    errors = [s for s in spans if s["parent"] == failed["id"]]
    assert errors
    assert all(e["attributes"]["error.type"] == "Overloaded" for e in errors)
    assert all(e["attributes"]["http.response.status_code"] == 503 for e in errors)


def test_metrics_count_requests_attempts_cost_and_breakers(tmp_path: Path) -> None:
    """Counters by outcome, durations, cost, and the breaker gauge, with the right counts."""
    report = _run(tmp_path)
    requests = {
        p["attributes"]["imagegate.outcome"]: p["value"]
        for p in _points(report, "imagegate.requests")
    }
    assert requests == {"image": 1, "failed": 1}
    attempts = _points(report, "imagegate.attempts")
    by_outcome: dict[str, int] = {}
    for p in attempts:
        outcome = p["attributes"]["imagegate.outcome"]
        by_outcome[outcome] = by_outcome.get(outcome, 0) + p["value"]
    failures = len(report["result"]["attempts"])
    assert by_outcome["success"] == 1
    assert by_outcome["cancelled"] == 1
    assert by_outcome["error"] >= 1
    assert sum(by_outcome.values()) >= failures + 1
    durations = _points(report, "imagegate.attempt.duration")
    assert sum(p["value"] for p in durations) == sum(by_outcome.values())
    assert len(_points(report, "imagegate.request.duration")) >= 1
    cost = sum(p["value"] for p in _points(report, "imagegate.cost"))
    assert round(cost, 6) == 0.02
    breakers = _points(report, "imagegate.breaker.state")
    assert {p["attributes"]["imagegate.size"] for p in breakers} == {"1K", "2K", "4K"}


METRICS_ONLY = textwrap.dedent(
    """
    import asyncio, json
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from imagegate import Route, Router
    from imagegate._otel import telemetry
    from imagegate.testing import FakeProvider

    async def main():
        before = telemetry.active()
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        telemetry._activity.again = 0.0  # as if the second between look-ups had passed
        async with Router([Route(FakeProvider(), model="m")], seed=0) as router:
            await router.generate("a lighthouse")
        names = [
            m.name
            for rm in reader.get_metrics_data().resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        ]
        print(json.dumps({"before": before, "after": telemetry.active(), "names": names}))

    asyncio.run(main())
    """
)


def test_a_meter_provider_alone_turns_the_hooks_on(tmp_path: Path) -> None:
    """Without any provider a request skips the hooks; a meter provider without a tracer
    provider is enough for requests and attempts to be counted."""
    script = tmp_path / "metrics_only.py"
    script.write_text(METRICS_ONLY, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["before"], report["after"]) == (False, True)
    assert {"imagegate.requests", "imagegate.attempts"} <= set(report["names"])

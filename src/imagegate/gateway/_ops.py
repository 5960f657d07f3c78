"""Operations endpoints: liveness, readiness, the model list and Prometheus metrics."""

from __future__ import annotations

import time

from aiohttp import web

from imagegate.gateway._errors import error_response
from imagegate.gateway._gateway import GATEWAY_KEY

__all__ = ["healthz", "metrics", "models", "readyz"]

_STARTED = int(time.time())


async def healthz(request: web.Request) -> web.Response:
    """200 while the process can answer."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when every router is open and the state backend answers, else 503 and why."""
    gateway = request.app[GATEWAY_KEY]
    reasons = []
    if gateway.draining:
        reasons.append("shutting down")
    if not gateway.open:
        reasons.append("routers are not open")
    if gateway.degraded():
        reasons.append("state backend unreachable: limits are enforced per replica")
    if reasons:
        return web.json_response({"status": "unready", "reasons": reasons}, status=503)
    return web.json_response({"status": "ready"})


async def models(request: web.Request) -> web.Response:
    """The model groups as OpenAI lists models."""
    names = request.app[GATEWAY_KEY].routers
    data = [
        {"id": name, "object": "model", "created": _STARTED, "owned_by": "imagegate"}
        for name in names
    ]
    return web.json_response({"object": "list", "data": data})


async def metrics(request: web.Request) -> web.Response:
    """Prometheus' text format from prometheus_client's default registry, which the
    OpenTelemetry Prometheus exporter fills (docs/observability.md)."""
    try:
        from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
    except ImportError:
        return error_response(
            404,
            "metrics need prometheus_client: pip install opentelemetry-exporter-prometheus "
            "opentelemetry-sdk (docs/gateway.md)",
            code="metrics_unavailable",
        )
    response = web.Response(body=generate_latest(REGISTRY))
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response

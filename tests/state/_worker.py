"""A worker process for the fleet tests: one `Router` on a shared `RedisState`.

Run as ``python _worker.py``; it reads one JSON command per line on stdin and answers
each with one JSON line on stdout (logs go to stderr):

- ``{"op": "open", "redis_url", "prefix", "time_scale", "routes": [...], ...}`` builds a
  router (closing the previous one). Routes are ``{"provider", "model", ...}`` mappings;
  ``rpm`` (with ``margin_s``) and ``quota_key`` give a shared rate limit, ``breaker`` a
  `BreakerPolicy`.
- ``{"op": "run", "prompts": [...], "concurrency": k}`` runs them through the router and
  answers with each one's route or error, and the backend's status.
- ``{"op": "status"}`` answers with the backend's status and the router's health.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from contextlib import aclosing
from typing import Any

# The protocol owns the real stdout; everything else printed goes to stderr.
_PROTOCOL = os.fdopen(os.dup(1), "w", buffering=1)
sys.stdout = sys.stderr

_EVENTS: list[str] = []


class _Remember(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes imagegate's records to stderr and remembers ``level:event`` of each."""

    def emit(self, record: logging.LogRecord) -> None:
        _EVENTS.append(f"{record.levelname.lower()}:{getattr(record, 'imagegate_event', None)}")
        super().emit(record)


logging.getLogger("imagegate").addHandler(_Remember(sys.stderr))
logging.getLogger("imagegate").setLevel(logging.INFO)

from imagegate import Route, Router  # noqa: E402
from imagegate.resilience.breaker import BreakerPolicy  # noqa: E402
from imagegate.resilience.clock import ScaledClock  # noqa: E402
from imagegate.resilience.hedge import HedgePolicy  # noqa: E402
from imagegate.resilience.ratelimit import RateLimit  # noqa: E402
from imagegate.resilience.retry import RetryPolicy  # noqa: E402
from imagegate.state import RedisState  # noqa: E402


class Worker:
    """Holds the current router and its backend."""

    def __init__(self) -> None:
        self.router: Router | None = None
        self.state: RedisState | None = None

    async def close(self) -> None:
        """Close the router and the backend."""
        if self.router is not None:
            await self.router.aclose()
        if self.state is not None:
            await self.state.aclose()
        self.router = self.state = None

    async def open(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Build a router on a RedisState from the command."""
        await self.close()
        scale = float(cmd["time_scale"])
        self.state = RedisState(
            cmd["redis_url"],
            prefix=cmd["prefix"],
            time_scale=scale,
            socket_timeout_s=0.2,
            retry_interval_s=float(cmd.get("retry_interval_s", 0.05)),
            warn_interval_s=float(cmd.get("warn_interval_s", 60.0)),
        )
        routes = []
        for spec in cmd["routes"]:
            spec = dict(spec)
            rpm = spec.pop("rpm", None)
            margin = {"margin_s": spec.pop("margin_s")} if "margin_s" in spec else {}
            limit = RateLimit(rpm=rpm, **margin) if rpm else None
            routes.append(Route(spec.pop("provider"), rate_limit=limit, **spec))
        breaker = BreakerPolicy(**cmd["breaker"]) if "breaker" in cmd else None
        self.router = Router(
            routes,
            clock=ScaledClock(scale),
            state=self.state,
            retry=RetryPolicy(attempts=int(cmd.get("attempts", 1)), min_attempt_s=0.0),
            breaker=breaker,
            hedge=HedgePolicy() if cmd.get("hedge") else None,
            budget_usd=cmd.get("budget_usd"),
            # Routes in the order given: the fleet tests count which worker sends what.
            order="ladder",
        )
        await self.router.open()
        return {"ok": True}

    async def run(self, cmd: dict[str, Any]) -> dict[str, Any]:
        """Run the prompts; every one gets an answer (its route, or its error)."""
        assert self.router is not None
        answers: list[dict[str, Any]] = [{} for _ in cmd["prompts"]]
        requests = [{"prompt": p, "size": cmd.get("size", "1K")} for p in cmd["prompts"]]
        async with aclosing(
            self.router.generate_many(requests, concurrency=int(cmd.get("concurrency", 1)))
        ) as results:
            async for item in results:
                if item.result is not None:
                    answers[item.index] = {"ok": True, "route": item.result.route}
                else:
                    answers[item.index] = {
                        "ok": False,
                        "error": type(item.error).__name__,
                        "message": str(item.error)[:3000],
                    }
        return {"results": answers, **self.status()}

    def status(self) -> dict[str, Any]:
        """The backend's statistics, the router's health and the log events so far."""
        assert self.router is not None
        assert self.state is not None
        stats = self.state.statistics()
        health = [
            {"route": h.route, "size": h.size, "breaker": h.breaker, **_extra(h)}
            for h in self.router.health()
        ]
        return {
            "state": {
                "degraded": stats.degraded,
                "outages": stats.outages,
                "recoveries": stats.recoveries,
                "remote_operations": stats.remote_operations,
                "local_operations": stats.local_operations,
                "last_error": stats.last_error,
            },
            "health": health,
            "events": list(_EVENTS),
            "spend": self.router.spend().total_usd,
        }


def _extra(health: Any) -> dict[str, Any]:
    # The router's degraded-mode field, once it has one (see docs/scaling.md).
    value = getattr(health, "state_degraded", None)
    return {} if value is None else {"state_degraded": value}


async def main() -> None:
    """Serve commands until stdin closes or ``close`` arrives."""
    worker = Worker()
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            cmd = json.loads(line)
            if cmd["op"] == "close":
                break
            try:
                if cmd["op"] == "open":
                    answer = await worker.open(cmd)
                elif cmd["op"] == "run":
                    answer = await worker.run(cmd)
                else:
                    answer = worker.status()
            except Exception as exc:  # the test shows it; the worker stays up
                answer = {"crash": f"{type(exc).__name__}: {exc}"}
            _PROTOCOL.write(json.dumps(answer) + "\n")
    finally:
        await worker.close()


if __name__ == "__main__":
    asyncio.run(main())

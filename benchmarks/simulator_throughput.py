"""How many small requests per second the simulator serves (it must never be a benchmark's
bottleneck: the target is ≥ 2,000 requests/s on the 2-core reference machine).

A bare aiohttp client keeps many requests in flight against a running simulator, in the
same process, and reports requests per second for three kinds of small request:

- ``gemini-error``: a Gemini ``generateContent`` answered by a fast 503 (small JSON body);
- ``flux-poll``: a Flux ``get_result`` poll (a few hundred bytes);
- ``gemini-1k``: a successful Gemini 1K image (a ~23 KB JSON body with a base64 PNG).

The scenario has no latency (``{fixed = 0}``), so what is measured is the server's own
cost per request. Run::

    python benchmarks/simulator_throughput.py [--requests 20000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp

from imagegate.testing.simulator import Simulator

ZERO_LATENCY: dict[str, Any] = {
    "name": "zero-latency",
    "description": "Every call answers at once; for measuring the server itself.",
    "profiles": [
        {
            "provider": provider,
            "latency_s": {"fixed": 0},
            "fail_latency_s": {"fixed": 0},
            "outcomes": {"success": 1},
        }
        for provider in ("gemini", "vertex", "openai", "openai_compatible", "flux")
    ],
}


async def _drive(
    session: aiohttp.ClientSession,
    make: Any,
    *,
    requests: int,
    concurrency: int,
) -> float:
    """Send ``requests`` requests, ``concurrency`` at a time; return requests per second."""
    remaining = requests

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            method, url, kwargs = make(remaining)
            async with session.request(method, url, **kwargs) as response:
                await response.read()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return requests / (time.perf_counter() - started)


async def main(requests: int, concurrency: int) -> dict[str, float]:
    """Run the three measurements and return requests/s for each."""
    results: dict[str, float] = {}
    async with Simulator(ZERO_LATENCY, time_scale=1.0) as sim:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(connector=connector) as session:
            gemini = f"{sim.base_url('gemini')}/v1/models/gemini-3-pro-image:generateContent"
            gemini_headers = {"x-goog-api-key": sim.api_key("gemini")}
            flux_headers = {"x-key": sim.api_key("flux")}
            async with session.post(
                f"{sim.base_url('flux')}/v1/flux-pro-1.1",
                json={"prompt": "a poll target"},
                headers=flux_headers,
            ) as response:
                polling_url = (await response.json())["polling_url"]

            def gemini_error(i: int) -> tuple[str, str, dict[str, Any]]:
                body = {"contents": [{"parts": [{"text": f"p{i} [sim:overloaded]"}]}]}
                return "POST", gemini, {"json": body, "headers": gemini_headers}

            def flux_poll(i: int) -> tuple[str, str, dict[str, Any]]:
                return "GET", polling_url, {"headers": flux_headers}

            def gemini_1k(i: int) -> tuple[str, str, dict[str, Any]]:
                body = {"contents": [{"parts": [{"text": f"p{i}"}]}]}
                return "POST", gemini, {"json": body, "headers": gemini_headers}

            for name, make in (
                ("gemini-error", gemini_error),
                ("flux-poll", flux_poll),
                ("gemini-1k", gemini_1k),
            ):
                await _drive(session, make, requests=min(1000, requests), concurrency=concurrency)
                results[name] = await _drive(
                    session, make, requests=requests, concurrency=concurrency
                )
                sim.clear_events()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    args = parser.parse_args()
    figures = asyncio.run(main(args.requests, args.concurrency))
    for name, rate in figures.items():
        print(f"{name:<14} {rate:8,.0f} requests/s")
    small = min(figures["gemini-error"], figures["flux-poll"])
    verdict = "meets" if small >= 2000 else "MISSES"
    print(f"small requests: {small:,.0f} requests/s ({verdict} the 2,000 requests/s target)")

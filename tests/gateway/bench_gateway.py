"""The gateway against the library on the simulator: the outage, and the added latency.

    python tests/gateway/bench_gateway.py outage [--requests 200] [--seed 0] [--time-scale 0.002]
    python tests/gateway/bench_gateway.py overhead [--requests 400]

``outage``: N concurrent 4K requests (600 simulated s deadline) on the 2026-01-21 outage,
once through the gateway with the async openai SDK (``max_retries=0``), once through
``Router.generate`` directly, on the same routes, policies and seed. Prints success,
delivered sizes, cost per image and latency (simulated seconds) for both.

``overhead``: sequential 1K requests on a zero-latency simulator; p50 and p90 per
request through the gateway with the openai SDK (SDK, HTTP, JSON and base64 included),
with a plain aiohttp client, and directly, and the differences.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gateway.conftest import KEYS, MODEL, gateway_config, running
from imagegate import Router
from imagegate.bench._serve import fixed_latency_scenario
from imagegate.gateway import load_config
from imagegate.testing.simulator import Simulator

# The outage is replayed with the models of its day (gpt-image-1.5 was shut down later).
TODAY = datetime.date(2026, 5, 1)


def _figures(outcomes: list[tuple[str | None, float, float]], requests: int) -> dict[str, Any]:
    """Success, sizes, cost per image and latency quantiles of (size, cost, latency_s)."""
    delivered = [o for o in outcomes if o[0] is not None]
    latencies = sorted(o[2] for o in delivered) or [0.0]
    return {
        "success": len(delivered),
        "requests": requests,
        "sizes": dict(collections.Counter(o[0] for o in delivered)),
        "cost_per_image_usd": sum(o[1] for o in delivered) / max(1, len(delivered)),
        "p50_s": latencies[len(latencies) // 2],
        "p95_s": latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))],
    }


async def outage_through_gateway(requests: int, seed: int, time_scale: float) -> dict[str, Any]:
    """N concurrent 4K requests through the gateway with the async openai SDK."""
    async with Simulator("outage-2026-01-21", seed=seed, time_scale=time_scale) as sim:
        config = gateway_config(sim)
        overrides = {"clock": sim.clock, "seed": seed, "max_in_flight": 64, "today": TODAY}
        async with (
            running(config, **overrides) as gw,
            openai.AsyncOpenAI(
                base_url=gw.base_url,
                api_key=KEYS["alice"],
                max_retries=0,
                timeout=3600,
            ) as client,
        ):

            async def one(i: int) -> tuple[str | None, float, float]:
                started = sim.clock.now()
                try:
                    raw = await client.images.with_raw_response.generate(
                        model=MODEL, prompt=f"a lighthouse at dusk #{i}", size="4K"
                    )
                except openai.APIError:
                    return None, 0.0, 0.0
                headers = raw.headers
                return (
                    headers["x-imagegate-size"],
                    float(headers["x-imagegate-cost-usd"]),
                    sim.clock.now() - started,
                )

            outcomes = await asyncio.gather(*(one(i) for i in range(requests)))
    return _figures(list(outcomes), requests)


async def outage_direct(requests: int, seed: int, time_scale: float) -> dict[str, Any]:
    """The same requests through `Router.generate`, on the same routes and seed."""
    async with Simulator("outage-2026-01-21", seed=seed, time_scale=time_scale) as sim:
        config = load_config(gateway_config(sim), clock=sim.clock, seed=seed, today=TODAY)
        arguments = {**config.router.arguments(), "max_in_flight": 64}
        async with Router(**arguments) as router:

            async def one(i: int) -> tuple[str | None, float, float]:
                started = sim.clock.now()
                try:
                    result = await router.generate(f"a lighthouse at dusk #{i}", size="4K")
                except Exception:
                    return None, 0.0, 0.0
                return result.size, result.cost_usd, sim.clock.now() - started

            outcomes = await asyncio.gather(*(one(i) for i in range(requests)))
    return _figures(list(outcomes), requests)


async def _interleaved(
    calls: dict[str, Callable[[int], Awaitable[object]]], requests: int
) -> dict[str, list[float]]:
    """Seconds per request of each call, taken in turn (so a change in the machine's load
    touches them alike); the first tenth warms up connections and caches."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for i in range(requests):
        for name, call in calls.items():
            started = time.perf_counter()
            await call(i)
            times[name].append(time.perf_counter() - started)
    return {name: values[requests // 10 :] for name, values in times.items()}


async def overhead(requests: int) -> dict[str, float]:
    """p50 and p90 milliseconds per request: directly, through the gateway with the openai
    SDK, and with a plain aiohttp client."""
    async with Simulator(fixed_latency_scenario(0.0), time_scale=1.0) as sim:
        config = gateway_config(sim)
        config["gateway"]["models"] = {MODEL: ["gemini/gemini-3-pro-image"]}
        settings = load_config(config).router
        routes = [r for r in settings.routes if r.name == "gemini/gemini-3-pro-image"]
        async with (
            Router(**{**settings.arguments(), "routes": routes}) as router,
            running(config) as gw,
            openai.AsyncOpenAI(base_url=gw.base_url, api_key=KEYS["alice"], max_retries=0) as c,
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEYS['alice']}"}) as http,
        ):
            url = f"{gw.base_url}/images/generations"

            async def plain(i: int) -> object:
                body = {"model": MODEL, "prompt": f"p{i}", "size": "1K"}
                async with http.post(url, json=body) as response:
                    return await response.json()

            times = await _interleaved(
                {
                    "direct": lambda i: router.generate(f"p{i}"),
                    "sdk": lambda i: c.images.generate(model=MODEL, prompt=f"p{i}", size="1K"),
                    "http": plain,
                },
                requests,
            )

    def ms(name: str, q: float) -> float:
        return 1000 * statistics.quantiles(times[name], n=100)[int(q * 100) - 1]

    return {
        "direct_p50_ms": ms("direct", 0.5),
        "direct_p90_ms": ms("direct", 0.9),
        "gateway_sdk_p50_ms": ms("sdk", 0.5),
        "gateway_sdk_p90_ms": ms("sdk", 0.9),
        "gateway_http_p50_ms": ms("http", 0.5),
        "gateway_http_p90_ms": ms("http", 0.9),
        "added_sdk_p50_ms": ms("sdk", 0.5) - ms("direct", 0.5),
        "added_http_p50_ms": ms("http", 0.5) - ms("direct", 0.5),
    }


def _line(name: str, figures: dict[str, Any]) -> str:
    sizes = " · ".join(f"{s} {figures['sizes'].get(s, 0)}" for s in ("4K", "2K", "1K"))
    share = figures["success"] / figures["requests"]
    return (
        f"{name}: {figures['success']}/{figures['requests']} ({share:.1%}), {sizes}, "
        f"${figures['cost_per_image_usd']:.3f}/image, "
        f"p50 {figures['p50_s']:.0f} s · p95 {figures['p95_s']:.0f} s (simulated)"
    )


async def _main(args: argparse.Namespace) -> None:
    if args.what == "outage":
        gateway = await outage_through_gateway(args.requests, args.seed, args.time_scale)
        print(_line("through the gateway", gateway), flush=True)
        direct = await outage_direct(args.requests, args.seed, args.time_scale)
        print(_line("the library directly", direct), flush=True)
    else:
        figures = await overhead(args.requests)
        print(", ".join(f"{k} {v:.3f}" for k, v in figures.items()))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("outage", "overhead"))
    parser.add_argument("--requests", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-scale", type=float, default=0.002)
    arguments = parser.parse_args()
    if arguments.requests is None:
        arguments.requests = 200 if arguments.what == "outage" else 400
    asyncio.run(_main(arguments))

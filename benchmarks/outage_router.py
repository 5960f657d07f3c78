"""The router alone on the simulated 2026-01-21 outage: success, sizes, latency, load.

N requests for 4K with a 600 s (simulated) deadline against AI Studio, Vertex and an
aggregator serving gemini-3-pro-image (primaries) with OpenAI gpt-image and Flux ultra as
backups, default policies (or the presets named by ``--preset``), 32 requests at a time.

    python benchmarks/outage_router.py --requests 200 --seeds 0 1 2 --time-scale 0.01

Figures are simulated seconds. Keep --time-scale at 0.01 or more: at 0.001 one real
millisecond of CPU (decoding a 4K PNG) already counts as a simulated second.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import time

from imagegate import Route, Router
from imagegate.testing.simulator import Simulator


def _routes(sim: Simulator) -> list[Route]:
    def route(provider: str, model: str, **kwargs: object) -> Route:
        base, key = sim.base_url(provider), sim.api_key(provider)
        return Route(provider, model=model, base_url=base, api_key=key, **kwargs)

    return [
        route("gemini", "gemini-3-pro-image"),
        route("vertex", "gemini-3-pro-image"),
        route("openai_compatible", "gemini-3-pro-image"),
        route("openai", "gpt-image-1.5", backup=True),
        route("flux", "flux-pro-1.1-ultra", backup=True),
    ]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(requests: int, seed: int, time_scale: float, concurrency: int, preset: str) -> None:
    """One run; prints one line of figures."""
    async with Simulator("outage-2026-01-21", seed=seed, time_scale=time_scale) as sim:
        started = time.perf_counter()
        router = Router(
            _routes(sim),
            clock=sim.clock,
            max_in_flight=64,
            seed=seed,
            preset=preset,  # type: ignore[arg-type]
        )
        async with router:
            batch = [
                {"prompt": f"a lighthouse at dusk #{i}", "size": "4K", "deadline": 600}
                for i in range(requests)
            ]
            answers = [a async for a in router.generate_many(batch, concurrency=concurrency)]
        wall = time.perf_counter() - started
        results = [a.result for a in answers if a.result is not None]
        sizes = collections.Counter(r.size for r in results)
        latencies = [r.latency_s for r in results]
        upstream = len(sim.events) / requests
        cost = sum(r.cost_usd for r in results) / max(1, len(results))
        share = len(results) / requests
        print(
            f"{preset} seed {seed}: success {len(results)}/{requests} ({share:.1%}), "
            f"4K {sizes['4K']} · 2K {sizes['2K']} · 1K {sizes['1K']}, "
            f"p50 {_quantile(latencies, 0.5):.0f} s · p95 {_quantile(latencies, 0.95):.0f} s, "
            f"{upstream:.2f} upstream attempts/request, ${cost:.3f}/image, wall {wall:.1f} s"
        )


def main() -> None:
    """Parse the flags and run every seed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument(
        "--preset", nargs="+", default=["balanced"], choices=("latency", "balanced", "quality")
    )
    args = parser.parse_args()
    os.environ.setdefault("IMAGEGATE_LOG_LEVEL", "error")
    for preset in args.preset:
        for seed in args.seeds:
            asyncio.run(run(args.requests, seed, args.time_scale, args.concurrency, preset))


if __name__ == "__main__":
    main()

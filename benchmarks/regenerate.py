"""Regenerate every figure of benchmarks/RESULTS.md, one run after the other::

    python benchmarks/regenerate.py [--out benchmarks/results] [--seed 0] [--time-scale X]

1. the outage: ``outage-2026-01-21``, 500 requests, the default contenders;
2. all four scenarios at 200 requests, every contender (the presets included);
3. router overhead (null provider), throughput (SDK vs adapter vs router) and peak memory
   (32 concurrent 4K requests with realistic payloads).

Each writes ``<out>/<name>.json`` (every figure and every request) and, for the first
two, ``<out>/<name>.png``. The contests run on virtual time (the same seed gives the
same figures on any machine) unless ``--time-scale`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from imagegate.bench import bench_main


def main() -> int:
    """Run the three measurements; returns the first non-zero status, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seed", default="0")
    parser.add_argument("--time-scale", default=None, help="wall clock (default: virtual time)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    common = ["--seed", args.seed]
    if args.time_scale is not None:
        common += ["--time-scale", args.time_scale]
    runs = {
        "outage-500": [
            "--scenario", "outage-2026-01-21", "--requests", "500",
        ],
        "scenarios-200": [
            "--scenario", "all", "--requests", "200", "--contenders", "all",
        ],
        "overhead": ["--measure", "overhead,throughput,memory"],
    }  # fmt: skip
    for name, argv in runs.items():
        started = time.perf_counter()
        outputs = ["--json", str(args.out / f"{name}.json")]
        if name != "overhead":
            outputs += ["--plot", str(args.out / f"{name}.png")]
        print(f"== {name}: imagegate bench {' '.join(argv + common)}", flush=True)
        status = bench_main([*argv, *common, *outputs])
        print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Regenerate every figure of benchmarks/RESULTS.md, one run after the other::

    python benchmarks/regenerate.py [--out benchmarks/results] [--seeds 0-9] [--seed 7] [--jobs 2]

1. ``seeds``: all four scenarios at 200 requests, every contender (the presets and LiteLLM
   included), once per seed; every figure as its median and range across the seeds, and
   imagegate's targets seed by seed;
2. ``scenarios-200``: the same contest for one seed, every request recorded, with the
   speed-vs-size chart;
3. ``overhead``: router overhead (null provider), throughput (SDK vs adapter vs the
   adapter under a bare deadline vs router), peak memory (32 concurrent 4K requests
   with realistic payloads) and instructions per request (valgrind's callgrind: needs
   valgrind);
4. ``throughput-realistic``: the throughput again on images of real answers' byte sizes
   (300 requests a round: each costs the client milliseconds).

Each writes ``<out>/<name>.json`` (and ``scenarios-200.png``). The contests run on virtual
time, so the same seeds give the same figures on any machine (LiteLLM's own figures aside:
docs/benchmarks.md says why); ``--jobs`` runs that many seeds at once without changing them.
The overhead measurements run on the wall clock: they are the CPU cost virtual time leaves
out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from imagegate.bench import bench_main


def main() -> int:
    """Run the four measurements; returns the first non-zero status, else 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--seeds", default="0-9", help="the seeds of the spread (default 0-9)")
    parser.add_argument("--seed", default="7", help="the seed of the detailed run (default 7)")
    parser.add_argument("--jobs", default="2", help="seeds run at once (default 2)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    contest = ["--scenario", "all", "--requests", "200", "--contenders", "all", "--quiet"]
    runs = {
        "seeds": [*contest, "--seeds", args.seeds, "--jobs", args.jobs],
        "scenarios-200": [*contest, "--seed", args.seed],
        "overhead": ["--measure", "overhead,throughput,memory,instructions"],
        "throughput-realistic": [
            "--measure", "throughput", "--throughput-payload", "realistic",
            "--throughput-requests", "300",
        ],
    }  # fmt: skip
    for name, argv in runs.items():
        started = time.perf_counter()
        outputs = ["--json", str(args.out / f"{name}.json")]
        if name == "scenarios-200":
            outputs += ["--plot", str(args.out / f"{name}.png")]
        print(f"== {name}: imagegate bench {' '.join(argv)}", flush=True)
        status = bench_main([*argv, *outputs])
        print(f"== {name}: {time.perf_counter() - started:.0f} s", flush=True)
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())

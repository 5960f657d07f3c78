"""Run the benchmark from a checkout: ``python benchmarks/run.py [options]`` is the same as
``imagegate bench [options]`` (see ``--help`` and docs/benchmarks.md)."""

from __future__ import annotations

import sys

from imagegate.bench import bench_main

if __name__ == "__main__":
    sys.exit(bench_main())

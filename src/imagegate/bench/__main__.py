"""``python -m imagegate.bench [options]``: the same as ``imagegate bench``."""

from __future__ import annotations

import sys

from imagegate.bench import bench_main

sys.exit(bench_main())

"""The benchmark: imagegate against the field's retry loops, LiteLLM's Router and the oracles.

Every contender runs against the embedded simulator playing the same scenario with the
same seed, each on a fresh simulator and, on virtual time, on a clock of its own (one after
the other in this process, or ``--jobs`` at once in worker processes); figures
come from the simulator's own event log and its deterministic world (docs/benchmarks.md)::

    imagegate bench --scenario outage-2026-01-21 --requests 500 --json out.json
    imagegate bench --scenario all --requests 200 --plot out.png
    imagegate bench --measure overhead,throughput,memory
    imagegate bench --live --yes                     # real providers, keys from the env
    imagegate demo                                   # the outage: presets vs the field

From Python, with the figures the command line gives (virtual time, each contender on a
clock of its own; ``jobs`` worker processes at once)::

    from imagegate.bench import BenchConfig, run_contests
    [[result]] = run_contests([BenchConfig(scenarios=("overload-503",), requests=100)], jobs=1)
    result.metrics["imagegate"].p95_s

``run_virtual(run_scenario(...))`` runs the contenders one after the other on one
virtual-time loop: the same figures run after run, but a contender's can differ from the
command line's, as it starts where the one before it left the clock.

LiteLLM, matplotlib, rich and psutil come with ``pip install 'imagegate[bench]'`` (from a
checkout: ``pip install -e '.[bench]'``) and are imported only by the measurement that
needs them.
"""

from __future__ import annotations

from imagegate.bench import _builtin  # noqa: F401 - registers the built-in contenders
from imagegate.bench._cli import (
    ALL_SCENARIOS,
    add_bench_arguments,
    add_demo_arguments,
    bench_main,
    demo_main,
    run_bench,
    run_demo,
)
from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import (
    CONTENDERS,
    ORACLE,
    Contender,
    ContenderInfo,
    Delivery,
    ImagegateContender,
    register_contender,
)
from imagegate.bench._deps import MissingDependency
from imagegate.bench._metrics import Metrics, RequestRecord
from imagegate.bench._oracle import OracleChoice, OracleVerdict, judge
from imagegate.bench._parallel import run_contests
from imagegate.bench._runner import ScenarioResult, run_scenario
from imagegate.bench._setup import DEFAULT_ROUTES, BenchEnv, BenchRequest, Endpoint, RouteSpec
from imagegate.bench._targets import Target, check_targets
from imagegate.bench._virtual import VirtualTimeLoop, run_virtual

__all__ = [
    "ALL_SCENARIOS",
    "CONTENDERS",
    "DEFAULT_ROUTES",
    "ORACLE",
    "BenchConfig",
    "BenchEnv",
    "BenchRequest",
    "Contender",
    "ContenderInfo",
    "Delivery",
    "Endpoint",
    "ImagegateContender",
    "Metrics",
    "MissingDependency",
    "OracleChoice",
    "OracleVerdict",
    "RequestRecord",
    "RouteSpec",
    "ScenarioResult",
    "Target",
    "VirtualTimeLoop",
    "add_bench_arguments",
    "add_demo_arguments",
    "bench_main",
    "check_targets",
    "demo_main",
    "judge",
    "register_contender",
    "run_bench",
    "run_contests",
    "run_demo",
    "run_scenario",
    "run_virtual",
]

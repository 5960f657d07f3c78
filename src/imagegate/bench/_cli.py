"""``imagegate bench`` and ``imagegate demo``: argument parsing and the top-level flow.

The CLI wires them in as subcommands with `add_bench_arguments` / `run_bench` and
`add_demo_arguments` / `run_demo`; `bench_main` and `demo_main` are the same as
standalone entry points (``python -m imagegate.bench``, ``benchmarks/run.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final, TypeVar

from imagegate._logging import LOG_LEVEL_ENV_VAR, configure_cli_logging
from imagegate._request import SIZES
from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import CONTENDERS, ORACLE
from imagegate.bench._deps import MissingDependency, import_optional
from imagegate.bench._measurements import add_measurement_arguments
from imagegate.bench._oracle import DEFAULT_ORACLE_ATTEMPTS
from imagegate.bench._parallel import contests
from imagegate.bench._runner import ScenarioResult
from imagegate.bench._setup import DEFAULT_DEADLINE_S
from imagegate.bench._virtual import run_virtual
from imagegate.errors import ImageGateError
from imagegate.testing.simulator import ScenarioError

__all__ = [
    "ALL_SCENARIOS",
    "MEASUREMENTS",
    "add_bench_arguments",
    "add_demo_arguments",
    "bench_main",
    "demo_main",
    "run_bench",
    "run_demo",
]

ALL_SCENARIOS: Final = ("outage-2026-01-21", "overload-503", "healthy", "free-tier")
"""What ``--scenario all`` runs, in this order."""

MEASUREMENTS: Final = (
    "contest", "overhead", "throughput", "memory", "edit-memory", "profile", "instructions"
)  # fmt: skip
"""What ``--measure`` can select (``all`` for every one)."""

_DEFAULTS = BenchConfig()

_T = TypeVar("_T")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _contender_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("all",):
        return (*CONTENDERS, ORACLE)
    unknown = [n for n in names if n not in CONTENDERS and n != ORACLE]
    if unknown or not names:
        known = ", ".join((*CONTENDERS, ORACLE))
        raise argparse.ArgumentTypeError(f"unknown contender(s) {unknown}; known: {known}, all")
    return names


def _seed_list(text: str) -> tuple[int, ...]:
    from imagegate.bench._seeds import parse_seeds

    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _measure_list(text: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("all",):
        return MEASUREMENTS
    unknown = [n for n in names if n not in MEASUREMENTS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown measurement(s) {unknown}; known: {', '.join(MEASUREMENTS)}, all"
        )
    return names


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``imagegate bench``'s options to ``parser``."""
    run = parser.add_argument_group("what to run")
    run.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="a built-in scenario or a TOML path; repeat it, or 'all' for the four "
        "built-ins (default: outage-2026-01-21)",
    )
    run.add_argument(
        "--contenders",
        type=_contender_list,
        default=_DEFAULTS.contenders,
        metavar="LIST",
        help=f"comma-separated, or 'all' (default: {','.join(_DEFAULTS.contenders)})",
    )
    run.add_argument(
        "--measure",
        type=_measure_list,
        default=("contest",),
        metavar="LIST",
        help="contest (the contenders on the scenarios), overhead (null-provider µs per "
        "request), throughput (router vs adapter vs SDK, and the adapter under a bare "
        "deadline, per CPU-second), memory (peak RSS with 32 4K requests), edit-memory (16 "
        "edits of 4 x 4 MB inputs), profile (where a request's µs go, by module), "
        "instructions (valgrind's count per request); comma-separated or 'all' "
        "(default: contest)",
    )
    load = parser.add_argument_group("load")
    load.add_argument("--requests", type=_positive_int, default=_DEFAULTS.requests, metavar="N")
    load.add_argument(
        "--concurrency", type=_positive_int, default=_DEFAULTS.concurrency, metavar="C"
    )
    load.add_argument("--seed", type=int, default=_DEFAULTS.seed, metavar="S")
    load.add_argument(
        "--seeds",
        type=_seed_list,
        metavar="RANGE",
        help="run the contest once per seed ('0-9', '1,4,7') and report each figure as "
        "its median and range across them, with imagegate's targets per seed",
    )
    load.add_argument(
        "--jobs",
        type=_positive_int,
        default=None,
        metavar="J",
        help="contender runs at once, each in a worker process (virtual time only; the "
        "figures are those of one at a time). Default: $IMAGEGATE_BENCH_JOBS, else the "
        "CPUs, at most 4",
    )
    load.add_argument(
        "--time-scale",
        type=_positive_float,
        default=None,
        metavar="X",
        help="run on the wall clock, X real seconds per simulated second (0.01: a 600 s "
        "deadline lasts 6 s); CPU time and the machine's load then count as simulated "
        "time. Default: virtual time, where they count zero and a seed always gives the "
        "same figures",
    )
    load.add_argument(
        "--litellm-time-scale",
        type=_positive_float,
        default=_DEFAULTS.time_scale_floor["litellm"],
        metavar="X",
        help="with --time-scale, the smallest time scale LiteLLM runs at: its own CPU time "
        "per call would otherwise count as simulated seconds "
        f"(default {_DEFAULTS.time_scale_floor['litellm']})",
    )
    load.add_argument("--size", choices=SIZES, default=_DEFAULTS.size)
    load.add_argument("--aspect-ratio", default=_DEFAULTS.aspect_ratio, metavar="W:H")
    load.add_argument(
        "--input-images", type=int, default=0, metavar="N",
        help="make every request an edit of N input images (imagegate contenders only)",
    )  # fmt: skip
    load.add_argument(
        "--deadline",
        type=_positive_float,
        default=DEFAULT_DEADLINE_S,
        metavar="SECONDS",
        help="every request's deadline, for every contender (default 600)",
    )
    load.add_argument(
        "--oracle-attempts",
        type=_positive_int,
        default=DEFAULT_ORACLE_ATTEMPTS,
        metavar="K",
        help=f"attempts per (route, tier) the oracles may use (default {DEFAULT_ORACLE_ATTEMPTS})",
    )
    add_measurement_arguments(load, _positive_int)
    output = parser.add_argument_group("output")
    output.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    output.add_argument(
        "--same-as",
        type=Path,
        metavar="PATH",
        help="with --json: compare every figure but the wall times with an earlier run's "
        "JSON, list what differs and exit 1 if anything does (same seed, same figures)",
    )
    output.add_argument("--plot", type=Path, metavar="PATH", help="draw the figures as a PNG")
    output.add_argument("--quiet", action="store_true", help="no progress bars")
    live = parser.add_argument_group("live (real providers, real money)")
    live.add_argument(
        "--live",
        action="store_true",
        help="run the contenders against the real providers with keys from the environment",
    )
    live.add_argument(
        "--live-requests",
        type=_positive_int,
        default=3,
        metavar="N",
        help="requests per contender in --live mode (default 3)",
    )
    live.add_argument(
        "--live-concurrency", type=_positive_int, default=2, metavar="C", help="default 2"
    )
    live.add_argument(
        "--budget-usd",
        type=_positive_float,
        default=2.0,
        metavar="USD",
        help="stop sending before this much could have been spent (default 2.0)",
    )
    live.add_argument("--yes", action="store_true", help="accept the live cost without asking")


def _config(args: argparse.Namespace) -> BenchConfig:
    scenarios: list[str] = []
    for name in args.scenario or [_DEFAULTS.scenarios[0]]:
        for item in ALL_SCENARIOS if name == "all" else (name,):
            if item not in scenarios:
                scenarios.append(item)
    return BenchConfig(
        scenarios=tuple(scenarios),
        requests=args.requests,
        concurrency=args.concurrency,
        seed=args.seed,
        time_scale=args.time_scale,
        time_scale_floor={"litellm": args.litellm_time_scale},
        contenders=args.contenders,
        size=args.size,
        aspect_ratio=args.aspect_ratio,
        deadline_s=args.deadline,
        oracle_attempts=args.oracle_attempts,
        input_images=args.input_images,
    )


def run_bench(args: argparse.Namespace) -> int:
    """Run ``imagegate bench`` with parsed arguments; returns the exit status."""
    os.environ.setdefault(LOG_LEVEL_ENV_VAR, "error")
    configure_cli_logging()
    try:
        return _bench(args)
    except (MissingDependency, ScenarioError, ImageGateError) as exc:
        print(f"imagegate bench: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _run(main: Coroutine[Any, Any, _T], *, virtual: bool) -> _T:
    """Run ``main`` on a virtual-time loop, or on asyncio's own."""
    return run_virtual(main) if virtual else asyncio.run(main)


def _console(stderr: bool = False) -> Any:
    return import_optional("rich.console", purpose="imagegate bench").Console(stderr=stderr)


def _bench(args: argparse.Namespace) -> int:
    config = _config(args)
    if args.live:
        return asyncio.run(_live(args, config))
    results: list[ScenarioResult] = []
    measures = args.measure
    if args.seeds and "contest" in measures:
        return _across_seeds(args, config)
    if "contest" in measures:
        # The contest on virtual time (unless a time scale is given); the measurements
        # of real CPU time and memory below on asyncio's own loop.
        [results] = contests([config], args.jobs, quiet=args.quiet)
        from imagegate.bench._report import print_results

        print_results(results)
    from imagegate.bench._measurements import measurements

    extra = asyncio.run(measurements(args, measures))
    _write_outputs(args, results, extra)
    return _check_same(args)


def _across_seeds(args: argparse.Namespace, config: BenchConfig) -> int:
    """The contest once per seed, each on a fresh loop; the spread and verdicts."""
    from imagegate.bench._seeds import print_seed_summary, summarize_seeds, write_seeds_json

    configs = [replace(config, seed=seed) for seed in args.seeds]
    per_seed = dict(zip(args.seeds, contests(configs, args.jobs, quiet=args.quiet), strict=True))
    summary = summarize_seeds(per_seed)
    print_seed_summary(summary)
    if args.json is not None:
        print(f"wrote {write_seeds_json(args.json, per_seed, summary)}")
    return _check_same(args)


def _check_same(args: argparse.Namespace) -> int:
    if args.same_as is None:
        return 0
    if args.json is None:
        print("--same-as needs --json", file=sys.stderr)
        return 2
    from imagegate.bench._figures import report_same

    return report_same(args.same_as, args.json)


def _write_outputs(
    args: argparse.Namespace, results: Sequence[ScenarioResult], extra: dict[str, Any]
) -> None:
    from imagegate.bench._report import write_json, write_plot

    if args.json is not None:
        print(f"wrote {write_json(args.json, results, extra=extra)}")
    if args.plot is not None:
        if results:
            print(f"wrote {write_plot(args.plot, results)}")
        else:
            print("--plot: nothing to draw without the contest", file=sys.stderr)


async def _live(args: argparse.Namespace, config: BenchConfig) -> int:
    from imagegate.bench._live import confirm, plan_live, run_live
    from imagegate.bench._report import print_results

    config = replace(
        config,
        requests=args.live_requests,
        concurrency=args.live_concurrency,
        contenders=tuple(c for c in config.contenders if c != ORACLE),
    )
    plan = plan_live(config, budget_usd=args.budget_usd)
    if plan is None:
        from imagegate.bench._live import live_endpoints

        _, notes = live_endpoints()
        print("imagegate bench --live: no provider is configured, nothing was sent.")
        for note in notes:
            print(f"  {note}")
        print("Without keys, run the simulated benchmark: imagegate bench")
        return 0
    for note in plan.notes:
        print(f"note: {note}")
    if not plan.contenders:
        print("imagegate bench --live: no contender can run with these keys; nothing was sent.")
        return 0
    if not confirm(plan, assume_yes=args.yes, out=sys.stdout):
        return 1
    result = await run_live(config, plan)
    print_results([result], targets=False)
    _write_outputs(args, [result], {})
    return 0


def bench_main(argv: Sequence[str] | None = None) -> int:
    """``imagegate bench`` as a standalone entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="imagegate bench",
        description="imagegate against the field's retry loops, LiteLLM's Router and the "
        "oracles, on the simulated outages (or live with --live).",
    )
    add_bench_arguments(parser)
    return run_bench(parser.parse_args(argv))


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``imagegate demo``'s options to ``parser``."""
    from imagegate.bench._demo import DEMO_CONFIG

    parser.add_argument("--requests", type=_positive_int, default=DEMO_CONFIG.requests, metavar="N")
    parser.add_argument(
        "--concurrency", type=_positive_int, default=DEMO_CONFIG.concurrency, metavar="C"
    )
    parser.add_argument("--seed", type=int, default=DEMO_CONFIG.seed, metavar="S")
    parser.add_argument(
        "--time-scale",
        type=_positive_float,
        default=None,
        metavar="X",
        help="run on the wall clock, X real seconds per simulated second (default: "
        "virtual time, where a seed always gives the same figures)",
    )
    parser.add_argument(
        "--contenders",
        type=_contender_list,
        default=DEMO_CONFIG.contenders,
        metavar="LIST",
        help=f"comma-separated, or 'all' (default: {','.join(DEMO_CONFIG.contenders)}; "
        "litellm only when it is installed)",
    )
    parser.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="save the speed-vs-size chart there (default: a new imagegate-demo-*.png in "
        "the temporary directory; needs matplotlib)",
    )


def run_demo(args: argparse.Namespace) -> int:
    """Run ``imagegate demo`` with parsed arguments; returns the exit status."""
    from imagegate.bench._demo import DEMO_CONFIG, run_demo_async

    os.environ.setdefault(LOG_LEVEL_ENV_VAR, "error")
    configure_cli_logging()
    config = replace(
        DEMO_CONFIG,
        requests=args.requests,
        concurrency=args.concurrency,
        seed=args.seed,
        time_scale=args.time_scale,
        contenders=args.contenders,
    )
    try:
        _run(run_demo_async(config, plot=args.plot), virtual=config.virtual)
    except MissingDependency as exc:
        print(f"imagegate demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


def demo_main(argv: Sequence[str] | None = None) -> int:
    """``imagegate demo`` as a standalone entry point; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="imagegate demo",
        description="The 2026-01-21 outage on the embedded simulator: imagegate's three "
        "presets against the field's clients, with a live scoreboard, a table in plain "
        "words and the speed-vs-size chart. No keys needed.",
    )
    add_demo_arguments(parser)
    return run_demo(parser.parse_args(argv))

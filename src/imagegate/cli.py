"""The ``imagegate`` command line.

    imagegate providers                       list providers and the plugins they come from
    imagegate generate "PROMPT" --route gemini/gemini-3-pro-image --size 2K --out img.png
    imagegate generate "PROMPT" --route ... --image a.png --image b.png [--mask m.png]   an edit
    imagegate simulate --scenario outage-2026-01-21 --port 8080
    imagegate config check imagegate.toml     the configuration a file resolves to, or its mistakes
    imagegate batch requests.jsonl --out DIR  many requests, resumable after a crash
    imagegate demo                            the outage: imagegate's presets vs the field
    imagegate bench --scenario all --requests 200 --json out.json

Tables use rich when it is installed (the ``cli`` extra) and plain text otherwise.
``generate`` prints each attempt as it starts and ends (on standard error, through a
guard added to the router's engine, the public way to watch attempts), then one result
line that says whether the time was simulated and whether the image came smaller than
asked, and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from imagegate import __version__
from imagegate._config import describe, load_settings
from imagegate._logging import configure_cli_logging
from imagegate._redact import redact
from imagegate._request import DEFAULT_DEADLINE_S, SIZES, size_rank
from imagegate._result import Attempt, ImageResult
from imagegate._route import Route
from imagegate._router import Router
from imagegate._status import add_status_command, print_table
from imagegate.batch._cli import add_batch_command
from imagegate.errors import AllRoutesFailed, ConfigurationError, ImageGateError, ProviderError
from imagegate.gateway import add_serve_command
from imagegate.guards import FlightView, Guard, RunView
from imagegate.providers import registry
from imagegate.resilience.clock import Clock

if TYPE_CHECKING:
    from imagegate.testing.simulator import Simulator

__all__ = ["main"]


def _cmd_providers(args: argparse.Namespace) -> int:
    infos = registry.available()
    rows = [(i.name, i.distribution, i.version, i.description) for i in infos]
    headers = ("provider", "distribution", "version", "description")
    print_table("imagegate providers", headers, rows, sys.stdout)
    errors = registry.errors()
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 1 if errors and not infos else 0


def _parse_route(text: str) -> tuple[str, str]:
    provider, sep, model = text.partition("/")
    if not sep or not provider or not model:
        raise argparse.ArgumentTypeError(f"route must look like PROVIDER/MODEL, got {text!r}")
    return provider, model


async def _generate(args: argparse.Namespace) -> int:
    provider, model = args.route
    if args.simulate is None:
        route = Route(provider, model=model, base_url=args.base_url)
        result = await _generate_on(route, args, clock=None)
        took = f"{result.latency_s:.1f} s"
    else:
        from imagegate.testing.simulator import PROVIDERS, Simulator

        if provider not in PROVIDERS:
            raise ConfigurationError(f"--simulate serves {', '.join(PROVIDERS)}; not {provider!r}")
        async with Simulator(args.simulate, time_scale=args.time_scale) as sim:
            route = Route(
                provider,
                model=model,
                base_url=sim.base_url(provider),
                api_key=sim.api_key(provider),
            )
            print(
                f"{args.simulate} on the embedded simulator: times are simulated seconds "
                f"(1 simulated s = {args.time_scale:g} real s)",
                file=sys.stderr,
            )
            result = await _generate_on(route, args, clock=sim.clock)
        real = result.latency_s * args.time_scale
        took = f"{result.latency_s:.1f} simulated s ({real:.1f} s of real time)"
    image = result.image
    out = Path(args.out)
    if out.suffix.lower() not in _SUFFIXES.get(image.mime_type, ()):
        out = out.with_suffix(image.extension)  # never write JPEG bytes under .png
    path = image.save(out)
    print(
        f"{path}: {image.width}x{image.height} {image.mime_type} ({result.size}) via {result.route}"
        f" in {took}, {len(result.attempts)} attempt(s), ${result.cost_usd:.4f}; "
        f"{_downgrade(result)}"
    )
    return 0


_SUFFIXES = {
    "image/png": (".png",),
    "image/jpeg": (".jpg", ".jpeg"),
    "image/webp": (".webp",),
}


async def _generate_on(route: Route, args: argparse.Namespace, clock: Clock | None) -> ImageResult:
    async with Router([route], clock=clock) as router:
        router.engine.guards = (*router.engine.guards, _AttemptLog(sys.stderr))
        return await router.generate(
            args.prompt,
            size=args.size,
            aspect_ratio=args.aspect_ratio,
            deadline=args.deadline,
            allow_downgrade=not args.no_downgrade,
            images=args.image,
            mask=args.mask,
        )


class _AttemptLog(Guard):
    """Prints every attempt of a router's requests as it starts and as it ends: when (clock
    seconds since its request started), where, which size, and how it ended. A guard that
    never refuses anything, added to ``router.engine.guards``.

    Args:
        out: Where to print.
    """

    __slots__ = ("_out", "_started")

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._started = 0.0

    def open(self, run: RunView) -> None:
        """A request starts: times count from now."""
        self._started = run.engine.clock.now()

    def passed(self, flight: FlightView) -> None:
        """The attempt's call is next."""
        hedge = ", a hedge" if flight.hedge else ""
        now = flight.run.engine.clock.now()
        self._say(now, "→", flight, f"attempt {flight.number}{hedge} starts")

    async def settle(self, flight: FlightView, taken: object, attempt: Attempt) -> None:
        """The call ended."""
        self._say(
            attempt.ended, "←", flight, f"{_outcome(attempt)} after {attempt.duration_s:.1f} s"
        )

    async def release(
        self, flight: FlightView, taken: object, attempt: Attempt | None, *, cancelled: bool
    ) -> None:
        """The attempt ended without a settled call."""
        now = flight.run.engine.clock.now()
        if attempt is not None:
            self._say(now, "←", flight, f"cancelled after {attempt.duration_s:.1f} s")
        elif not cancelled:
            self._say(now, "←", flight, "not started: the deadline came first")

    def _say(self, when: float, arrow: str, flight: FlightView, what: str) -> None:
        option = flight.option
        print(
            f"  [{when - self._started:7.1f} s] {arrow} {option.route.name} {option.size}: {what}",
            file=self._out,
            flush=True,
        )


def _outcome(attempt: Attempt) -> str:
    """How an attempt ended, in a few words (an upstream's own text cut short)."""
    if attempt.outcome == "success":
        return f"delivered {attempt.delivered_size or 'an image'}"
    if attempt.outcome == "timeout":
        return "timed out"
    if attempt.outcome == "cancelled":
        return "cancelled"
    error = attempt.error
    if error is None:
        return "failed"
    status = f" (HTTP {error.status})" if isinstance(error, ProviderError) and error.status else ""
    return f"failed, {type(error).__name__}{status}: {error.message[:80]}"


def _downgrade(result: ImageResult) -> str:
    """Whether the image came at the size asked for, and if not what became of the
    larger sizes (their attempts' outcomes, or why they were skipped)."""
    if not result.downgraded or result.size is None:
        return f"at the {result.requested_size} asked for"
    reasons = []
    for size in reversed(SIZES):
        if not size_rank(result.size) < size_rank(size) <= size_rank(result.requested_size):
            continue
        tried = [_outcome(a) for a in result.attempts if a.size == size]
        skipped = [k.detail or k.reason.replace("_", " ") for k in result.skipped if k.size == size]
        why = (
            ", ".join(tried)
            if tried
            else f"not tried ({skipped[0] if skipped else 'no reason given'})"
        )
        reasons.append(f"{size}: {why}")
    return f"downgraded from the {result.requested_size} asked for ({'; '.join(reasons)})"


def _cmd_generate(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_generate(args))
    except AllRoutesFailed as exc:
        print(f"imagegate: failed: {exc}", file=sys.stderr)
        return 1
    except ImageGateError as exc:
        print(f"imagegate: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # an unknown --simulate scenario
        print(f"imagegate: {exc}", file=sys.stderr)
        return 2


def _cmd_simulate(args: argparse.Namespace) -> int:
    from imagegate.testing.simulator import ScenarioError

    try:
        asyncio.run(_simulate(args))
    except KeyboardInterrupt:
        return 0
    except (ScenarioError, OSError) as exc:
        print(f"imagegate: {exc}", file=sys.stderr)
        return 2
    return 0


async def _simulate(args: argparse.Namespace) -> None:
    """Serve the simulator until interrupted, having printed how to reach it."""
    from imagegate.testing.simulator import Simulator

    async with Simulator(
        args.scenario, seed=args.seed, time_scale=args.time_scale, port=args.port,
        host=args.host, payload=args.payload,
    ) as sim:  # fmt: skip
        print(_simulator_banner(sim), flush=True)
        await asyncio.Event().wait()


def _simulator_banner(sim: Simulator) -> str:
    """The simulator's own description, with an ``export`` line for every key and
    endpoint variable a provider reads that it lacks: applied to a fresh shell, the
    exports send every provider's traffic to the simulator, Flux's included."""
    from imagegate.testing.simulator import describe_simulator

    text = describe_simulator(sim)
    exports = {
        "GEMINI_API_KEY": sim.api_key("gemini"),
        "GOOGLE_GEMINI_BASE_URL": sim.base_url("gemini"),
        "GOOGLE_VERTEX_BASE_URL": sim.base_url("vertex"),
        "OPENAI_API_KEY": sim.api_key("openai"),
        "OPENAI_BASE_URL": sim.base_url("openai"),
        "OPENAI_COMPATIBLE_API_KEY": sim.api_key("openai_compatible"),
        "OPENAI_COMPATIBLE_BASE_URL": sim.base_url("openai_compatible"),
        "BFL_API_KEY": sim.api_key("flux"),
        "BFL_BASE_URL": sim.base_url("flux"),
    }
    missing = [f"  export {k}={v}" for k, v in exports.items() if f"export {k}=" not in text]
    lines = text.splitlines()
    exported = [i + 1 for i, line in enumerate(lines) if line.lstrip().startswith("export ")]
    at = max(exported, default=len(lines))
    return "\n".join([*lines[:at], *missing, *lines[at:]])


def _cmd_config_check(args: argparse.Namespace) -> int:
    """Print the resolved configuration (exit 0) or the file's mistakes (exit 1)."""
    try:
        settings = load_settings(args.file)
    except ConfigurationError as exc:
        print(f"imagegate: {exc}", file=sys.stderr)
        return 1
    print(redact(json.dumps(describe(settings), indent=2)))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imagegate", description="Resilient image generation across providers."
    )
    parser.add_argument("--version", action="version", version=f"imagegate {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr at info level (-vv: debug); without it, IMAGEGATE_LOG_LEVEL or warning",
    )
    parser.add_argument("--log-json", action="store_true", help="log as JSON lines")
    commands = parser.add_subparsers(dest="command", required=True)

    providers = commands.add_parser("providers", help="list providers and their plugins")
    providers.set_defaults(func=_cmd_providers)

    generate = commands.add_parser("generate", help="generate one image")
    generate.add_argument("prompt")
    generate.add_argument("--route", required=True, type=_parse_route, help="PROVIDER/MODEL")
    generate.add_argument("--size", choices=SIZES, default="1K")
    generate.add_argument(
        "--aspect-ratio",
        default=None,
        help="W:H (default: the first --image's ratio, snapped to a common one; else 1:1)",
    )
    generate.add_argument(
        "--image",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="an input image to edit or take as a reference (repeat for more, in order)",
    )
    generate.add_argument(
        "--mask",
        type=Path,
        default=None,
        metavar="PATH",
        help="PNG with alpha, the first --image's size: its transparent pixels are edited",
    )
    generate.add_argument("--out", type=Path, default=Path("image.png"))
    generate.add_argument("--base-url", default=None, help="endpoint override")
    generate.add_argument(
        "--deadline",
        type=float,
        default=DEFAULT_DEADLINE_S,
        help="seconds the whole request may take (default %(default)g)",
    )
    generate.add_argument("--no-downgrade", action="store_true", help="never try smaller tiers")
    generate.add_argument(
        "--simulate",
        metavar="SCENARIO",
        default=None,
        help="run against the embedded simulator (healthy, outage-2026-01-21, …): no keys",
    )
    generate.add_argument(
        "--time-scale",
        type=float,
        default=0.1,
        help="with --simulate: real seconds per simulated second (default 0.1)",
    )
    generate.set_defaults(func=_cmd_generate)

    simulate = commands.add_parser(
        "simulate", help="run the upstream simulator in the foreground (no keys, no network)"
    )
    simulate.add_argument("--scenario", default="healthy", help="built-in name or TOML path")
    simulate.add_argument("--port", type=int, default=8080)
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--seed", type=int, default=0)
    simulate.add_argument(
        "--time-scale", type=float, default=1.0, help="real seconds per simulated second"
    )
    simulate.add_argument("--payload", choices=("small", "realistic"), default="small")
    simulate.set_defaults(func=_cmd_simulate)

    config = commands.add_parser("config", help="check a router configuration file")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser(
        "check",
        help="print the configuration a TOML file resolves to (keys masked), or every "
        "mistake in it; exit status 1 if there is one",
    )
    check.add_argument("file", type=Path, help="a TOML file, as Router.from_config reads")
    check.set_defaults(func=_cmd_config_check)
    add_status_command(commands)
    add_batch_command(commands)
    add_serve_command(commands)

    # The benchmark's own parsers live in imagegate.bench, imported only when used.
    for name, text in _DELEGATED.items():
        delegated = commands.add_parser(name, help=text, add_help=False)
        delegated.add_argument("rest", nargs=argparse.REMAINDER)
    return parser


_DELEGATED = {
    "bench": "benchmark imagegate against the field's retry loops, LiteLLM and the oracles",
    "demo": "the 2026-01-21 outage on the embedded simulator: imagegate's three presets vs "
    "the field's clients, in plain words, with the speed-vs-size chart",
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in _DELEGATED:
        from imagegate.bench import bench_main, demo_main

        run = bench_main if argv[0] == "bench" else demo_main
        return run(argv[1:])
    args = _parser().parse_args(argv)
    configure_cli_logging(args.verbose, json_lines=args.log_json)
    status: int = args.func(args)
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

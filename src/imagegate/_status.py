"""``imagegate status``: a router's health table, once or every few seconds.

The router is built from a configuration file (`Router.from_config`), so a router on a
shared state backend (`RedisState`) shows what every worker on it sees: breakers,
quotas. Outcome windows and latencies are this process's own, empty until it sends
traffic; the table says so rather than inventing figures.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import anyio

from imagegate._router import RouteHealth, Router
from imagegate.errors import ConfigurationError, ImageGateError

__all__ = ["add_status_command", "print_table"]

_HEADERS = ("route", "size", "breaker", "calls", "success", "p50 s", "p95 s", "quota now/today")


def print_table(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO
) -> None:
    """``rows`` under ``headers``: a rich table when rich is installed, else plain columns."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
        print(title, file=out)
        for row in (headers, *rows):
            cells = (c.ljust(w) for c, w in zip(row, widths, strict=True))
            print("  ".join(cells).rstrip(), file=out)
        return
    table = Table(title=title)
    for header in headers:
        table.add_column(header)
    for row in rows:
        table.add_row(*row)
    Console(file=out, width=120).print(table)


def _cell(value: float | int | None, fmt: str = "{}") -> str:
    return "—" if value is None else fmt.format(value)


def _row(health: RouteHealth) -> list[str]:
    quota = health.quota
    left = "—"
    if quota is not None:
        left = f"{_cell(quota.requests_now)}/{_cell(quota.requests_today)}"
        if quota.exhausted:
            left += " exhausted"
    return [
        health.route,
        health.size,
        health.breaker,
        str(health.calls),
        _cell(health.success_rate, "{:.0%}"),
        _cell(health.p50_s, "{:.1f}"),
        _cell(health.p95_s, "{:.1f}"),
        left,
    ]


def _show(router: Router, as_json: bool, out: TextIO) -> None:
    health = router.health()
    if as_json:
        print(json.dumps([h.to_dict() for h in health]), file=out, flush=True)
        return
    degraded = (
        " (shared state unreachable: local view)" if any(h.state_degraded for h in health) else ""
    )
    print_table(f"imagegate health{degraded}", _HEADERS, [_row(h) for h in health], out)


async def _status(args: argparse.Namespace, out: TextIO) -> int:
    async with Router.from_config(args.config) as router:
        _show(router, args.json, out)
        while args.watch is not None:
            await anyio.sleep(args.watch)
            _show(router, args.json, out)
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    try:
        return anyio.run(_status, args, sys.stdout)
    except (ConfigurationError, ImageGateError) as exc:
        print(f"imagegate status: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def add_status_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``imagegate status --config FILE [--watch S] [--json]``."""
    status = commands.add_parser(
        "status", help="print the health table of the router a configuration file builds"
    )
    status.add_argument(
        "--config", required=True, type=Path, help="a TOML file, as Router.from_config reads"
    )
    status.add_argument(
        "--watch", type=float, default=None, metavar="S", help="print it again every S seconds"
    )
    status.add_argument("--json", action="store_true", help="one JSON array per print")
    status.set_defaults(func=_cmd_status)

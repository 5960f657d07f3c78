"""``imagegate bench --measure overhead,throughput,memory,edit-memory,profile,instructions``:
the measurements of the client's own cost.

These measure the client's own CPU time (throughput too: requests per CPU-second) and
memory, in real time, on asyncio's own loop
(the contest's virtual time leaves CPU time out on purpose). Each prints its table and
returns its rows as JSON.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from imagegate.bench._deps import import_optional

__all__ = ["add_measurement_arguments", "measurements"]


def add_measurement_arguments(
    group: argparse._ArgumentGroup, positive_int: Callable[[str], int]
) -> None:
    """Add how much each measurement runs (``--overhead-requests`` …) to ``group``."""
    for name, default in (
        ("overhead-requests", 20_000), ("throughput-requests", 2_000),
        ("profile-requests", 5_000), ("instructions-requests", 2_000),
        ("memory-concurrency", 32),
    ):  # fmt: skip
        group.add_argument(f"--{name}", type=positive_int, default=default, metavar="N")
    group.add_argument(
        "--throughput-payload", choices=("small", "realistic"), default="small",
        help="the throughput simulator's images: small (kilobytes) or realistic (real "
        "answers' byte sizes: 2–12 ms of client CPU a request, so fewer requests)",
    )  # fmt: skip


def _console() -> Any:
    return import_optional("rich.console", purpose="imagegate bench").Console()


async def measurements(args: argparse.Namespace, measures: Sequence[str]) -> dict[str, Any]:
    """Run the measurements named in ``measures``; their rows by name."""
    extra: dict[str, Any] = {}
    if "overhead" in measures:
        extra["overhead"] = await _overhead(args)
    if "throughput" in measures:
        extra["throughput"] = await _throughput(args)
    if "memory" in measures:
        extra["memory"] = await _memory(args)
    if "edit-memory" in measures:
        extra["edit-memory"] = await _edit_memory()
    if "profile" in measures:
        extra["profile"] = await _profile(args)
    if "instructions" in measures:
        extra["instructions"] = await _instructions(args)
    return extra


async def _instructions(args: argparse.Namespace) -> list[dict[str, Any]]:
    from imagegate.bench._instructions import count_instructions

    rows = await count_instructions(requests=args.instructions_requests)
    table = _table(
        "instructions per request with a null provider (valgrind's callgrind; the same on "
        "any load, repeatable to 0.1%)"
    )
    for header in ("tier", "requests", "provider direct", "through the router", "overhead"):
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            r.size, f"{r.requests:,}", f"{r.direct:,.0f}", f"{r.router:,.0f}",
            f"{r.overhead:,.0f}",
        )  # fmt: skip
    _console().print(table)
    return [r.to_json() for r in rows]


async def _overhead(args: argparse.Namespace) -> list[dict[str, Any]]:
    from imagegate.bench._overhead import null_overhead

    rows = await null_overhead(requests=args.overhead_requests)
    table = _table("router overhead with a null provider (µs per request, median of 5 rounds)")
    headers = ("tier", "requests/round", "provider direct", "through the router", "overhead")
    for header in (*headers, "of which OpenTelemetry"):
        table.add_column(header, justify="right")
    for r in rows:
        table.add_row(
            r.size, f"{r.requests:,}", f"{r.direct_us:.1f}", f"{r.router_us:.1f}",
            f"{r.overhead_us:.1f}", f"{r.telemetry_us:.1f}",
        )  # fmt: skip
    _console().print(table)
    return [r.to_json() for r in rows]


async def _throughput(args: argparse.Namespace) -> list[dict[str, Any]]:
    from imagegate.bench._throughput import TARGET, throughput

    payload = args.throughput_payload
    rows = await throughput(requests=args.throughput_requests, payload=payload)
    rates = _table(
        f"throughput against the zero-latency simulator, {payload} images (requests per "
        "CPU-second of the client, 32 in flight, medians of 5 rounds; deadline: the adapter "
        "inside an asyncio.timeout alone)"
    )
    for header in ("provider", "image", "SDK", "adapter", "deadline", "router"):
        rates.add_column(header, justify="right")
    ratios = _table("the same rounds' ratios, within each round: median (lowest–highest)")
    for header in ("provider", "router/adapter", "deadline/adapter", "adapter/SDK"):
        ratios.add_column(header, justify="right")
    extra = _table("CPU µs per request above the adapter's, within each round (median)")
    for header in ("provider", "router", "deadline", f"{TARGET}× allows"):
        extra.add_column(header, justify="right")
    wall = _table("the same rounds in requests/s of wall time (these move with the load)")
    for header in ("provider", "SDK", "adapter", "router"):
        wall.add_column(header, justify="right")
    for r in rows:
        rates.add_row(
            r.provider, f"{r.image_bytes / 1024:,.0f} KiB", f"{r.sdk_per_cpu_s:.0f}",
            f"{r.adapter_per_cpu_s:.0f}", f"{r.deadline_per_cpu_s:.0f}",
            f"{r.router_per_cpu_s:.0f}",
        )  # fmt: skip
        ratios.add_row(
            r.provider,
            _ratio(r.router_vs_adapter, r.router_vs_adapter_range),
            _ratio(r.deadline_vs_adapter, r.deadline_vs_adapter_range),
            _ratio(r.adapter_vs_sdk, r.adapter_vs_sdk_range),
        )
        allowed_us = 1e6 / r.adapter_per_cpu_s * (1 / TARGET - 1)  # the target's room
        extra.add_row(
            r.provider, f"{r.router_extra_us:.0f}", f"{r.deadline_extra_us:.0f}",
            f"{allowed_us:.0f}",
        )  # fmt: skip
        wall.add_row(r.provider, f"{r.sdk_rps:.0f}", f"{r.adapter_rps:.0f}", f"{r.router_rps:.0f}")
    for table in (rates, ratios, extra, wall):
        _console().print(table)
    return [r.to_json() for r in rows]


def _ratio(median: float, spread: tuple[float, float]) -> str:
    return f"{median:.2f} [{spread[0]:.2f}–{spread[1]:.2f}]"


async def _memory(args: argparse.Namespace) -> list[dict[str, Any]]:
    from imagegate.bench._memory import peak_memory

    rows = await peak_memory(concurrency=args.memory_concurrency)
    table = _table(
        f"peak RSS, {args.memory_concurrency} concurrent 4K requests with realistic payloads"
    )
    for header in ("client", "image", "on the wire", "RSS before", "peak", "per image", "copies"):
        table.add_column(header, justify="right")
    mib = 2**20
    for r in rows:
        table.add_row(
            r.mode, f"{r.image_bytes / mib:.1f} MiB", f"{r.wire_bytes / mib:.1f} MiB",
            f"{r.baseline_rss / mib:.0f} MiB", f"{r.peak_rss / mib:.0f} MiB",
            f"{r.peak_growth_per_image / mib:.0f} MiB", f"{r.copies:.2f}",
        )  # fmt: skip
    _console().print(table)
    return [r.to_json() for r in rows]


async def _edit_memory() -> list[dict[str, Any]]:
    from imagegate.bench._edit_memory import edit_memory

    rows = await edit_memory()
    first = rows[0]
    table = _table(
        f"peak RSS, {first.concurrency} concurrent edits of {first.images} input images each "
        "(random-noise PNGs), through the router"
    )
    headers = ("route", "input image", "bytes in flight", "RSS with inputs", "peak", "copies")
    for header in headers:
        table.add_column(header, justify="right")
    mib = 2**20
    for r in rows:
        table.add_row(
            f"{r.path}/{r.model}", f"{r.image_bytes / mib:.1f} MiB",
            f"{r.bytes_in_flight / mib:.0f} MiB", f"{r.baseline_rss / mib:.0f} MiB",
            f"{r.peak_rss / mib:.0f} MiB", f"{r.copies:.2f}",
        )  # fmt: skip
    _console().print(table)
    return [r.to_json() for r in rows]


async def _profile(args: argparse.Namespace) -> list[dict[str, Any]]:
    from imagegate.bench._profile import profile_overhead

    rows = []
    for size in ("1K", "4K"):
        result = await profile_overhead(requests=args.profile_requests, size=size)
        table = _table(
            f"where a single-attempt {size} request's µs go: {result.us_per_request:.1f} µs "
            f"per request (null provider, {result.requests:,} requests; cProfile's own time "
            "per group, scaled to the unprofiled figure)"
        )
        for header in ("group", "µs/request", "calls/request", "costliest functions (µs)"):
            table.add_column(header, justify="left" if header.startswith(("g", "c")) else "right")
        for g in result.groups[:_PROFILE_ROWS]:
            top = ", ".join(f"{name} {us:.1f}" for name, us in g.top)
            table.add_row(
                g.name.removeprefix("imagegate."),
                f"{g.us_per_request:.1f}",
                f"{g.calls_per_request:.1f}",
                top,
            )
        rest = result.groups[_PROFILE_ROWS:]
        if rest:
            us = sum(g.us_per_request for g in rest)
            table.add_row(f"({len(rest)} more)", f"{us:.1f}", "", "")
        _console().print(table)
        rows.append(result.to_json())
    return rows


_PROFILE_ROWS = 30


def _table(title: str) -> Any:
    table_module = import_optional("rich.table", purpose="imagegate bench")
    return table_module.Table(title=title, title_justify="left")

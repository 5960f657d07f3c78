"""Where the router's microseconds go: ``imagegate bench --measure profile``.

The null-provider loop of ``--measure overhead`` (`imagegate.bench._overhead`), one
single-attempt request after the other, runs once without and once under `cProfile`. The
profile's own time per function is summed by where the function lives — an imagegate
module (``_attempt``, ``guards._booking``, ``state.memory`` …), or the package outside
imagegate (``asyncio``, ``anyio``, ``pydantic`` …) — and each group's share of the profiled
time is scaled to the microseconds a request took without the profiler, so the figures
add up to the request's real cost rather than the profiler's inflated one::

    group us = group's share of the profiled time x unprofiled us per request

The provider's own call (the prebuilt answer) is in the ``null provider`` group; the rest
is the router's overhead.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from imagegate._request import Size
from imagegate._route import Route
from imagegate._router import Router
from imagegate.bench._overhead import NullProvider

__all__ = ["ProfileGroup", "ProfileResult", "profile_overhead"]

# Paths inside the imagegate package, and the packages named after their top folder.
_PACKAGE = "imagegate"
_STDLIB_GROUPS = ("asyncio", "contextlib", "dataclasses", "collections", "random", "uuid")


@dataclass(frozen=True, slots=True)
class ProfileGroup:
    """One group of functions (a module of imagegate, or a package outside it).

    Attributes:
        name: ``imagegate._attempt``, ``asyncio``, ``builtins`` …
        us_per_request: Its share of a request's unprofiled microseconds.
        calls_per_request: Function calls in the group per request.
        top: Its costliest functions, as ``(function, us per request)``.
    """

    name: str
    us_per_request: float
    calls_per_request: float
    top: tuple[tuple[str, float], ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "name": self.name,
            "us_per_request": self.us_per_request,
            "calls_per_request": self.calls_per_request,
            "top": [list(t) for t in self.top],
        }


@dataclass(frozen=True, slots=True)
class ProfileResult:
    """Where a single-attempt request's microseconds go.

    Attributes:
        size: The tier requested.
        requests: Requests profiled.
        us_per_request: Microseconds per ``router.generate`` without the profiler.
        groups: The groups, costliest first.
    """

    size: Size
    requests: int
    us_per_request: float
    groups: tuple[ProfileGroup, ...]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict."""
        return {
            "size": self.size,
            "requests": self.requests,
            "us_per_request": self.us_per_request,
            "groups": [g.to_json() for g in self.groups],
        }


async def profile_overhead(
    *, requests: int = 5_000, size: Size = "1K", top: int = 2
) -> ProfileResult:
    """Profile ``requests`` null-provider requests at ``size`` (the module docstring)."""
    provider = NullProvider()
    async with Router([Route(provider, model="null")], seed=0) as router:
        for i in range(min(requests, 500)):  # warm up: windows, caches, imports
            await router.generate(f"w{i}", size=size)
        started = time.perf_counter_ns()
        for i in range(requests):
            await router.generate(f"p{i}", size=size)
        us_per_request = (time.perf_counter_ns() - started) / requests / 1000
        profiler = cProfile.Profile()
        profiler.enable()
        for i in range(requests):
            await router.generate(f"q{i}", size=size)
        profiler.disable()
    groups = _groups(pstats.Stats(profiler), requests, us_per_request, top)
    return ProfileResult(size, requests, us_per_request, groups)


def _groups(
    stats: pstats.Stats, requests: int, us_per_request: float, top: int
) -> tuple[ProfileGroup, ...]:
    """Own time per function, summed by group and scaled to unprofiled microseconds."""
    raw: dict[Any, tuple[int, int, float, float, Any]] = stats.stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in raw.values()) or 1.0
    scale = us_per_request / total  # profiled seconds in all → unprofiled µs per request
    own_by_group: dict[str, float] = {}
    calls_by_group: dict[str, int] = {}
    functions: dict[str, list[tuple[str, float]]] = {}
    for (path, _, name), (_, calls, own, _, _) in raw.items():
        group = _group_of(path, name)
        own_by_group[group] = own_by_group.get(group, 0.0) + own
        calls_by_group[group] = calls_by_group.get(group, 0) + calls
        functions.setdefault(group, []).append((_short(name), own))
    result = []
    for group, own in own_by_group.items():
        costliest = sorted(functions[group], key=lambda f: -f[1])[:top]
        result.append(
            ProfileGroup(
                group,
                own * scale,
                calls_by_group[group] / requests,
                tuple((f, t * scale) for f, t in costliest),
            )
        )
    return tuple(sorted(result, key=lambda g: -g.us_per_request))


def _group_of(path: str, name: str) -> str:
    """``imagegate.guards._booking`` for a file of the package, the top folder of a
    site package (``anyio``), the stdlib module (``asyncio``), or ``builtins``."""
    if path == "~":
        return "builtins"
    parts = PurePath(path).parts
    if _PACKAGE in parts:
        inside = parts[len(parts) - 1 - parts[::-1].index(_PACKAGE) :]
        module = ".".join((*inside[:-1], PurePath(inside[-1]).stem))
        return "null provider" if module == "imagegate.bench._overhead" else module
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1]
    for stdlib in _STDLIB_GROUPS:
        if stdlib in parts or PurePath(path).stem == stdlib:
            return stdlib
    return PurePath(path).stem or name


def _short(name: str) -> str:
    """``get_running_loop`` for ``<built-in method _asyncio.get_running_loop>``,
    ``validate_python`` for ``<method 'validate_python' of '…' objects>``."""
    if name.startswith("<method '"):
        return name.split("'")[1]
    if name.startswith("<built-in method "):
        return name.removeprefix("<built-in method ").rstrip(">").rsplit(".", 1)[-1]
    return name

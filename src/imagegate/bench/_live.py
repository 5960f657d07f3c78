"""``imagegate bench --live``: the same contenders against the real providers.

Keys come from the environment; a provider without one is skipped with a note, and with
none at all the run prints how to configure one and exits 0::

    gemini              GEMINI_API_KEY (or GOOGLE_API_KEY)
    openai_compatible   OPENAI_COMPATIBLE_API_KEY and OPENAI_COMPATIBLE_BASE_URL
    vertex              GOOGLE_CLOUD_PROJECT and Application Default Credentials
                        (GOOGLE_CLOUD_LOCATION, default global)
    openai              OPENAI_API_KEY
    flux                BFL_API_KEY

Endpoints can be moved with the usual variables (``GOOGLE_GEMINI_BASE_URL``,
``GOOGLE_VERTEX_BASE_URL``, ``OPENAI_BASE_URL``, ``BFL_BASE_URL``), which is also how the
live path is tested against a local simulator.

Money: before anything is sent the run prints what it expects to spend and its cap, and
goes on only with ``--yes`` (or a "y" at the prompt on a terminal). The cap is enforced
from the client side by `BudgetGuard`, from an upper estimate (every call made so far, by
any contender, at the dearest route price): a request starts only while one more call per
request in flight fits, and requests in flight are cancelled once the estimate reaches the
cap; skipped and cut requests are reported. Only the calls in flight at that moment can
pass the cap. imagegate also gets what is left as its own ``budget_usd``.

Figures are real seconds. There is no world to compute an oracle from, and no provider
record of billing: attempts per request are the clients' own counts, cost per image is
estimated from the price table (delivered images billed, every other call possibly).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final, TextIO

import anyio

from imagegate.bench._config import BenchConfig
from imagegate.bench._contenders import CONTENDERS, ORACLE, Contender, Delivery
from imagegate.bench._metrics import summarize
from imagegate.bench._runner import ContenderRun, ScenarioResult, drive
from imagegate.bench._setup import BenchEnv, BenchRequest, Endpoint, make_requests
from imagegate.resilience.clock import LoopClock

__all__ = [
    "LIVE_SCENARIO",
    "BudgetGuard",
    "BudgetStop",
    "LivePlan",
    "confirm",
    "live_endpoints",
    "plan_live",
    "run_live",
]

LIVE_SCENARIO: Final = "live"

_EXPECTED_CALLS: Final = 1.5
"""Calls per request assumed for the expected-cost warning (healthy providers)."""


def live_endpoints(
    environ: Mapping[str, str] | None = None,
) -> tuple[dict[str, Endpoint], list[str]]:
    """Endpoints for the providers configured in ``environ``, and notes on the others."""
    env = os.environ if environ is None else environ
    endpoints: dict[str, Endpoint] = {}
    notes: list[str] = []
    for provider, configured, hint in _ENDPOINTS:
        endpoint = configured(env)
        if endpoint is None:
            notes.append(f"{provider} skipped: {hint}")
        else:
            endpoints[provider] = endpoint
    return endpoints, notes


def _gemini(env: Mapping[str, str]) -> Endpoint | None:
    key = env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY")
    return Endpoint("gemini", env.get("GOOGLE_GEMINI_BASE_URL"), key) if key else None


def _openai_compatible(env: Mapping[str, str]) -> Endpoint | None:
    key, base = env.get("OPENAI_COMPATIBLE_API_KEY"), env.get("OPENAI_COMPATIBLE_BASE_URL")
    return Endpoint("openai_compatible", base, key) if key and base else None


def _vertex(env: Mapping[str, str]) -> Endpoint | None:
    project = env.get("GOOGLE_CLOUD_PROJECT")
    if not (project and _has_adc()):
        return None
    return Endpoint(
        "vertex",
        env.get("GOOGLE_VERTEX_BASE_URL"),
        None,
        project=project,
        location=env.get("GOOGLE_CLOUD_LOCATION") or "global",
    )


def _openai(env: Mapping[str, str]) -> Endpoint | None:
    key = env.get("OPENAI_API_KEY")
    return Endpoint("openai", env.get("OPENAI_BASE_URL"), key) if key else None


def _flux(env: Mapping[str, str]) -> Endpoint | None:
    key = env.get("BFL_API_KEY")
    return Endpoint("flux", env.get("BFL_BASE_URL"), key) if key else None


_ENDPOINTS: Final[tuple[tuple[str, Callable[[Mapping[str, str]], Endpoint | None], str], ...]] = (
    ("gemini", _gemini, "set GEMINI_API_KEY (AI Studio)"),
    (
        "openai_compatible",
        _openai_compatible,
        "set OPENAI_COMPATIBLE_API_KEY and OPENAI_COMPATIBLE_BASE_URL (an aggregator's /v1 root)",
    ),
    (
        "vertex",
        _vertex,
        "set GOOGLE_CLOUD_PROJECT and Application Default Credentials "
        "(gcloud auth application-default login)",
    ),
    ("openai", _openai, "set OPENAI_API_KEY"),
    ("flux", _flux, "set BFL_API_KEY"),
)
"""Per provider, in the order of the module docstring: its endpoint from the environment
(None when it is not configured), and what to set otherwise."""


def _has_adc() -> bool:
    try:
        import google.auth
        import google.auth.exceptions

        google.auth.default()
    except Exception:  # no ADC, or no google-auth: Vertex cannot be reached
        return False
    return True


@dataclass(slots=True)
class LivePlan:
    """What a live run would do and cost.

    Attributes:
        env: The environment (real clock, configured routes).
        contenders: Contenders that can run (the baselines need AI Studio).
        notes: Providers and contenders skipped, and why.
        expected_usd: The expected spend (every contender, ~1.5 calls per request at the
            average route price).
        cap_usd: The budget cap.
    """

    env: BenchEnv
    contenders: list[str]
    notes: list[str] = field(default_factory=list)
    expected_usd: float = 0.0
    cap_usd: float = 0.0


def plan_live(
    config: BenchConfig,
    *,
    budget_usd: float,
    environ: Mapping[str, str] | None = None,
) -> LivePlan | None:
    """The live plan, or None when no provider is configured."""
    endpoints, notes = live_endpoints(environ)
    routes = tuple(r for r in config.routes if r.provider in endpoints)
    if not routes:
        return None
    env = BenchEnv(
        clock=LoopClock(),
        time_scale=1.0,
        routes=routes,
        endpoints=endpoints,
        seed=config.seed,
        concurrency=config.concurrency,
        budget_usd=budget_usd,
        live=True,
        deadline_s=config.deadline_s,
        size=config.size,
        aspect_ratio=config.aspect_ratio,
    )
    contenders = []
    for name in config.contenders:
        if name == ORACLE:
            notes.append("oracle skipped: there is no simulated world to read it from")
        elif name in ("waterfall", "waterfall-retry", "backoff") and "gemini" not in endpoints:
            notes.append(f"{name} skipped: the field's client code calls AI Studio (gemini)")
        else:
            contenders.append(name)
    mean_price = sum(r.price_usd for r in routes) / len(routes)
    expected = len(contenders) * config.requests * _EXPECTED_CALLS * mean_price
    return LivePlan(env, contenders, notes, expected, budget_usd)


class BudgetStop(Exception):
    """The next request would not fit in the budget."""


class BudgetGuard:
    """Client-side spending cap across every contender of a live run.

    Spending is estimated from above: every upstream call made so far, by any contender,
    at the dearest route price. A request starts only if that estimate, plus one call for
    it and for each request already in flight, stays within the cap; a request in flight
    is cancelled as soon as the estimate reaches the cap. So the cap can be passed only by
    the calls in flight at that moment.

    Args:
        cap_usd: The cap.
        price_usd: Dearest price per call of the run's routes.
    """

    __slots__ = ("_contenders", "cap_usd", "in_flight", "price_usd")

    def __init__(self, cap_usd: float, price_usd: float) -> None:
        self.cap_usd = cap_usd
        self.price_usd = price_usd
        self.in_flight = 0
        self._contenders: list[Contender] = []

    def watch(self, contender: Contender) -> None:
        """Count ``contender``'s calls from now on."""
        self._contenders.append(contender)

    def spent_usd(self) -> float:
        """An upper bound of what was spent: every call at the dearest price."""
        return sum(c.calls_made() for c in self._contenders) * self.price_usd

    def exhausted(self) -> bool:
        """Whether the estimate has reached the cap."""
        return self.spent_usd() >= self.cap_usd

    def admit(self) -> None:
        """Raise `BudgetStop` unless one more request (one call) still fits."""
        if self.spent_usd() + (self.in_flight + 1) * self.price_usd > self.cap_usd:
            raise BudgetStop(
                f"budget: ${self.spent_usd():.2f} spent at most and {self.in_flight} "
                f"request(s) in flight; one more call would pass the ${self.cap_usd:.2f} cap"
            )


_WATCH_S: Final = 0.2


class _Guarded:
    """A contender whose requests pass the budget guard and stop when it is exhausted."""

    __slots__ = ("_guard", "_inner", "name")

    def __init__(self, inner: Contender, guard: BudgetGuard) -> None:
        self._inner = inner
        self._guard = guard
        self.name = inner.name

    async def open(self, env: BenchEnv) -> None:
        await self._inner.open(env)

    async def generate(self, request: BenchRequest) -> Delivery:
        guard = self._guard
        guard.admit()
        guard.in_flight += 1
        delivery: Delivery | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def watch() -> None:
                    # Polled: the contenders count calls, they do not signal them.
                    while True:
                        if guard.exhausted():
                            tg.cancel_scope.cancel()
                            return
                        await anyio.sleep(_WATCH_S)

                tg.start_soon(watch)
                delivery = await self._inner.generate(request)
                tg.cancel_scope.cancel()
        finally:
            guard.in_flight -= 1
        if delivery is None:
            raise BudgetStop(f"budget: the ${guard.cap_usd:.2f} cap was reached mid-request")
        return delivery

    def calls_made(self) -> int:
        return self._inner.calls_made()

    async def aclose(self) -> None:
        await self._inner.aclose()


def confirm(
    plan: LivePlan, *, assume_yes: bool, out: TextIO, ask: Callable[[str], str] = input
) -> bool:
    """Print the cost warning; True when the run may go ahead."""
    print(
        f"WARNING: --live calls real, paid APIs ({len(plan.contenders)} contender(s) on "
        f"{len(plan.env.routes)} route(s)): expected spend about "
        f"${plan.expected_usd:.2f}, never more than ${plan.cap_usd:.2f} (--budget-usd).",
        file=out,
    )
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        print("Not a terminal: re-run with --yes to accept the cost.", file=out)
        return False
    return ask("Go ahead? [y/N] ").strip().lower() in ("y", "yes")


async def run_live(config: BenchConfig, plan: LivePlan) -> ScenarioResult:
    """Run every planned contender against the real providers."""
    env = plan.env
    requests = make_requests(
        config.requests,
        size=config.size,
        aspect_ratio=config.aspect_ratio,
        deadline_s=config.deadline_s,
        seed=config.seed,
    )
    dearest = max(r.price_usd for r in env.routes)
    guard = BudgetGuard(plan.cap_usd, dearest)
    result = ScenarioResult(LIVE_SCENARIO, "real providers", config, requests, {}, {}, [])
    result.notes.extend(plan.notes)
    prices = {(r.provider, r.model): r.price_usd for r in env.routes}

    def price(provider: str, model: str) -> float:
        return prices.get((provider, model), dearest)

    for name in plan.contenders:
        inner = CONTENDERS[name].factory()
        contender = _Guarded(inner, guard)
        guard.watch(inner)
        env.budget_usd = max(0.0, plan.cap_usd - guard.spent_usd())
        started = time.perf_counter()
        await contender.open(env)
        try:
            records = await drive(contender, requests, clock=env.clock, concurrency=env.concurrency)
        finally:
            calls = contender.calls_made()
            await contender.aclose()
        run = ContenderRun(name, records, time.perf_counter() - started, None, calls)
        skipped = sum(1 for r in records if r.error and r.error.startswith("BudgetStop"))
        if skipped:
            result.notes.append(f"{name}: {skipped} request(s) skipped to stay within the budget")
        result.runs[name] = run
        result.metrics[name] = summarize(
            name,
            records,
            requests,
            wall_s=run.wall_s,
            events=None,
            price_usd=price,
            client_calls=run.client_calls,
        )
    return result

"""The oracles: the best any client could have done, read off the simulator's world.

`World.plan` says, without a server, what attempt ``k`` of a prompt on (provider, model,
tier) returns and when. For one request the oracle lists every *candidate*::

    for each route of the set (backups included),
        for each tier the request allows (requested tier down to 1K) that the route can
        render (Flux ultra: always 2K; gpt-image: 1K),
            for k in 0 … max_attempts − 1:
                plan(prompt, provider, model, tier, k)
                → a candidate if it delivers an image (of at least 1K) before the deadline,
                  arriving at latency + trickle seconds

and picks from them:

- the **latency oracle**: the earliest candidate — the earliest an image could exist;
- the **quality oracle**: the largest delivered tier among the candidates, and the
  earliest candidate at that tier.

The oracle may fire every candidate at second 0 (attempt ``k`` of an option exists only
after attempts 0 … k−1, but nothing stops a client from sending them together), so it is
a true lower bound on the latency of any client that makes at most ``max_attempts``
attempts per (route, tier) within a request — and real clients also pay for HTTP, polls
and their own bookkeeping. The default, 3, is the retry count of imagegate, LiteLLM and
the field's waterfall with retries; the field's backoff makes up to 5, but its fourth and
fifth start only after three failures and their sleeps, and every run counts the requests
any contender served faster than the oracle (``oracle_violations``, always 0 so far).
Quotas are not in the plan (they depend on the traffic), so where quotas bite
(``free-tier``) the bound is loose, never wrong.

An oracle's cost is the price of its winning attempt plus the earlier attempts of the
same option that the provider would have billed; its attempts per request are ``k + 1``.
Since the fastest image is not the cheapest, a third choice is kept for cost targets: the
**cheapest** image any candidate could deliver in time, a lower bound on what any client
that served the request paid for it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final

from imagegate._request import Size, size_rank
from imagegate.bench._setup import BenchRequest, RouteSpec, ladder
from imagegate.testing.simulator import World

__all__ = ["DEFAULT_ORACLE_ATTEMPTS", "OracleChoice", "OracleVerdict", "judge"]

DEFAULT_ORACLE_ATTEMPTS: Final = 3
"""Attempts per (route, tier) the oracles may use: imagegate's, LiteLLM's and the field's
waterfall-with-retries' three attempts per option."""


@dataclass(frozen=True, slots=True)
class OracleChoice:
    """What an oracle would have done for one request.

    Attributes:
        ok: Whether any candidate delivered in time.
        latency_s: When the image arrives (inf when none does).
        size: The tier delivered.
        route: ``provider/model`` of the winning attempt.
        attempt: Its 0-based attempt number on that (route, tier).
        cost_usd: Price of the winner plus the billed earlier attempts of its option.
    """

    ok: bool
    latency_s: float
    size: Size | None
    route: str | None
    attempt: int
    cost_usd: float

    @property
    def attempts(self) -> int:
        """Upstream attempts the choice needs (0 when nothing could deliver)."""
        return self.attempt + 1 if self.ok else 0


_NONE: Final = OracleChoice(False, math.inf, None, None, 0, 0.0)


@dataclass(frozen=True, slots=True)
class OracleVerdict:
    """What the oracles would have done for one request.

    Attributes:
        latency: The earliest image (the latency oracle).
        quality: The earliest image at the largest tier any route could deliver.
        cheapest: The cheapest image any route could deliver in time: a lower bound on
            what a client that delivered this request paid for it.
    """

    latency: OracleChoice
    quality: OracleChoice
    cheapest: OracleChoice


def judge(
    world: World,
    request: BenchRequest,
    routes: Sequence[RouteSpec],
    *,
    max_attempts: int = DEFAULT_ORACLE_ATTEMPTS,
    allow_backup: bool = True,
) -> OracleVerdict:
    """Both oracles for ``request`` in ``world`` (see the module docstring).

    Raises:
        ValueError: ``max_attempts`` is below 1.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    candidates = [
        choice
        for spec in routes
        if allow_backup or not spec.backup
        for choice in _candidates(world, request, spec, max_attempts=max_attempts)
    ]
    return OracleVerdict(
        latency=_best(candidates, _faster),
        quality=_best(candidates, _sharper),
        cheapest=_best(candidates, _cheaper),
    )


def _candidates(
    world: World, request: BenchRequest, spec: RouteSpec, *, max_attempts: int
) -> Iterator[OracleChoice]:
    """Every attempt on ``spec`` that delivers an image in time, largest tier first, each
    priced with the billed earlier attempts of its tier."""
    rendered = {spec.tiers[t] for t in ladder(request.size) if t in spec.tiers}
    for tier in sorted(rendered, key=size_rank, reverse=True):
        billed_before = 0.0
        for k in range(max_attempts):
            plan = world.plan(
                prompt=request.prompt,
                provider=spec.provider,
                model=spec.model,
                size=tier,
                attempt=k,
            )
            delivered = plan.delivered_size if plan.delivers_image else None
            if delivered is not None and plan.ends_at_s <= request.deadline_s:
                cost_usd = billed_before + spec.price_usd
                yield OracleChoice(True, plan.ends_at_s, delivered, spec.name, k, cost_usd)
            if plan.billed:
                billed_before += spec.price_usd


def _best(
    candidates: Sequence[OracleChoice], better: Callable[[OracleChoice, OracleChoice], bool]
) -> OracleChoice:
    """The best of ``candidates`` by ``better`` (of equals, the first), or `_NONE`."""
    best = _NONE
    for choice in candidates:
        if better(choice, best):
            best = choice
    return best


def _faster(a: OracleChoice, b: OracleChoice) -> bool:
    if not b.ok:
        return True
    return (a.latency_s, a.cost_usd) < (b.latency_s, b.cost_usd)


def _cheaper(a: OracleChoice, b: OracleChoice) -> bool:
    if not b.ok:
        return True
    return (a.cost_usd, a.latency_s) < (b.cost_usd, b.latency_s)


def _sharper(a: OracleChoice, b: OracleChoice) -> bool:
    if not b.ok:
        return True
    assert a.size is not None
    assert b.size is not None
    if size_rank(a.size) != size_rank(b.size):
        return size_rank(a.size) > size_rank(b.size)
    return _faster(a, b)

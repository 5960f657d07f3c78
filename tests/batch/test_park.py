"""Parking: a batch on a free-tier quota (2 images a day per model) waits for the next
quota day instead of failing, on virtual time, and is bounded by ``until``."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from imagegate import Route, Router
from imagegate._result import Attempt, SkippedOption
from imagegate.batch import JOURNAL, ItemResult, Progress, run
from imagegate.batch._park import why_parkable
from imagegate.bench import run_virtual
from imagegate.errors import (
    AllRoutesFailed,
    AuthenticationError,
    ContentBlocked,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
)
from imagegate.testing.simulator import Simulator, load_scenario

_MODELS = ("gemini-3-pro-image", "gemini-3.1-flash-image")
_DAY_S = 86_400.0
_FIRST_RESET_S = 22 * 3600.0  # the scenario starts at 02:00 Pacific
_LA = ZoneInfo("America/Los_Angeles")


def _free_tier() -> Any:
    """The free-tier scenario as shipped: it starts at 02:00 Pacific, 22 simulated hours
    before its first quota reset. The simulator's clock carries the scenario's wall time
    and the router reads it, so the adapter's reset (the next Pacific midnight) and the
    simulator's are the same moment, whatever the real time of day."""
    return load_scenario("free-tier")


def _router(sim: Simulator) -> Router:
    """Two Gemini models on AI Studio only: 4 images a simulated day in all."""
    routes = [
        Route("gemini", model=m, base_url=sim.base_url("gemini"), api_key=sim.api_key("gemini"))
        for m in _MODELS
    ]
    return Router(routes, clock=sim.clock, today=date(2026, 5, 1), seed=1)


def _items(count: int) -> list[dict[str, Any]]:
    return [{"id": f"p{n}", "prompt": f"product {n} [sim:success~20]"} for n in range(count)]


async def _batch(
    out: Path, items: list[dict[str, Any]], **kwargs: Any
) -> tuple[list[ItemResult], Progress, list[Any], float]:
    """Run the batch on a fresh simulator; its results, progress, the simulator's own
    record of every attempt, and the simulated seconds it took."""
    async with Simulator(_free_tier(), time_scale=1.0) as sim, _router(sim) as router:
        progress = Progress()
        start = sim.clock.now()
        results = [r async for r in run(router, items, out, progress=progress, **kwargs)]
        return results, progress, list(sim.events), sim.clock.now() - start


def _journal(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / JOURNAL).read_text().splitlines()]


def test_a_free_tier_batch_parks_and_finishes_on_the_next_days(tmp_path: Path) -> None:
    """10 items at 4 a day: 4 delivered today, the rest parked and delivered on the
    next two quota days; the simulator billed each item exactly once."""
    results, progress, events, took_s = run_virtual(
        _batch(tmp_path, _items(10), until=timedelta(days=4))
    )
    assert sorted(r.id for r in results if r.ok) == [f"p{n}" for n in range(10)]
    billed = Counter(e.prompt for e in events if e.billed)
    assert sorted(billed.values()) == [1] * 10  # each item generated and paid for once
    assert Counter(e.prompt for e in events if e.outcome == "success") == billed
    assert all(e.outcome in ("success", "quota_exhausted", "rate_limited") for e in events)
    # 4 a day: the last ones needed the third quota day.
    assert _DAY_S < took_s < 4 * _DAY_S
    assert progress.done == 10
    assert progress.failed == 0
    assert progress.parked == 0
    journal = _journal(tmp_path)
    parked = {r["id"] for r in journal if r["type"] == "parked"}
    early = {e.prompt for e in events if e.billed and e.started < 3600}
    assert len(early) == 4
    assert parked
    waits = [r for r in journal if r["type"] == "parked"]
    assert all(r["wait_s"] > 0 and "on gemini/" in r["reason"] for r in waits)
    assert any("quota exhausted on gemini/" in r["reason"] for r in waits)
    assert max(r["wait_s"] for r in waits) > 3600  # waited for the quota day, not a timer
    delivered = {e.prompt.split(" [")[0]: e.started for e in events if e.billed}
    assert all(delivered[f"product {i[1:]}"] > 3600 for i in parked)  # on a later day
    finished = Counter(r["id"] for r in journal if r["type"] == "finished")
    assert sorted(finished.values()) == [1] * 10


def test_parked_items_wake_once_per_simulated_quota_day(tmp_path: Path) -> None:
    """An item parked for the daily quota wakes at the simulated Pacific midnight (its
    journal's ``wake_at``), once per quota day: the only 429s come at a quota day's start,
    none in between."""
    _, _, events, _ = run_virtual(_batch(tmp_path, _items(10), until=timedelta(days=4)))
    waits = [r for r in _journal(tmp_path) if r["type"] == "parked" and r["wait_s"] > 3600]
    wakes = [datetime.fromisoformat(r["wake_at"]).astimezone(_LA) for r in waits]
    assert wakes
    assert all((w.hour, w.minute) == (0, 0) for w in wakes)
    days = Counter((r["id"], w.date()) for r, w in zip(waits, wakes, strict=True))
    assert set(days.values()) == {1}  # no item waits twice for the same midnight
    refused = [e.started for e in events if e.outcome == "quota_exhausted"]
    assert refused
    day_starts = [0.0, *(_FIRST_RESET_S + k * _DAY_S for k in range(4))]
    assert all(any(0 <= s - d < 600 for d in day_starts) for s in refused)
    assert len(refused) <= 10  # 6 items over 2 models on day one, then a few at one reset


def test_a_short_until_fails_what_is_still_parked(tmp_path: Path) -> None:
    """With an hour to wait, the 4 items today's quota allows are delivered and the 6
    others fail, saying they were parked and why; none of them was billed."""
    results, progress, events, took_s = run_virtual(
        _batch(tmp_path, _items(10), until=timedelta(hours=1))
    )
    assert len([r for r in results if r.ok]) == 4
    failed = [r for r in results if not r.ok]
    assert len(failed) == 6
    assert progress.expired == 6
    assert all(r.error is not None and r.error.startswith("parked (") for r in failed)
    assert all(
        "quota exhausted on gemini/" in (r.error or "") or "breaker open on" in (r.error or "")
        for r in failed
    )
    billed = {e.prompt.split(" [")[0] for e in events if e.billed}
    assert len(billed) == 4
    assert not {f"product {r.id[1:]}" for r in failed} & billed
    assert took_s < _DAY_S / 4  # it did not wait for the next quota day


def test_without_until_quota_failures_fail_at_once(tmp_path: Path) -> None:
    """No ``until``: today's behaviour, nothing parks."""
    results, progress, _, _ = run_virtual(_batch(tmp_path, _items(6)))
    assert len([r for r in results if r.ok]) == 4
    assert progress.failed == 2
    assert progress.expired == 0
    assert not [r for r in _journal(tmp_path) if r["type"] == "parked"]


def test_a_refused_prompt_is_not_parked(tmp_path: Path) -> None:
    """A prompt the provider refuses fails at once, even with days to wait."""
    items = [
        {"id": "refused", "prompt": "a cat [sim:prompt_blocked]"},
        {"id": "fine", "prompt": "a dog [sim:success~20]"},
    ]
    results, progress, _, _ = run_virtual(_batch(tmp_path, items, until=timedelta(days=4)))
    by_id = {r.id: r for r in results}
    assert by_id["fine"].ok
    assert not by_id["refused"].ok
    assert not (by_id["refused"].error or "").startswith("parked")
    assert not [r for r in _journal(tmp_path) if r["type"] == "parked"]
    assert progress.expired == 0


def test_items_left_parked_run_again_on_resume(tmp_path: Path) -> None:
    """An item whose last record is "parked" (the run was stopped while it waited) is
    sent again by the next run; a finished one is not."""
    journal = [
        {"type": "run", "run": 1},
        {"type": "started", "id": "p0", "run": 1},
        {"type": "parked", "id": "p0", "run": 1, "wait_s": 3600.0, "reason": "quota"},
        {"type": "started", "id": "p1", "run": 1},
        {"type": "finished", "id": "p1", "run": 1, "status": "ok", "file": None},
    ]
    (tmp_path / JOURNAL).write_text("".join(json.dumps(r) + "\n" for r in journal))
    results, progress, events, _ = run_virtual(_batch(tmp_path, _items(2)))
    assert progress.parked_earlier == 1
    assert progress.interrupted == 0
    assert {r.id: r.resumed for r in results} == {"p0": False, "p1": True}
    assert [e.prompt for e in events] == ["product 0 [sim:success~20]"]


def _failure(*errors: Exception | None, skipped: tuple[SkippedOption, ...] = ()) -> AllRoutesFailed:
    attempts = [
        Attempt(f"gemini/m{n}", "1K", 0.0, 1.0, "error" if e else "cancelled", error=e)  # type: ignore[arg-type]
        for n, e in enumerate(errors)
    ]
    return AllRoutesFailed("failed", attempts=attempts, skipped_options=skipped)


def test_only_quota_and_outage_failures_park() -> None:
    """Quota, rate-limit and outage errors and breaker or quota skips park; a refusal, a
    bad request, a key, a rejected route or a blocked prompt anywhere fails at once."""
    quota = QuotaExhausted("daily quota exhausted", route="gemini/m0", size="1K")
    skipped = (SkippedOption("x/y", "2K", "quota"),)
    wait = why_parkable(_failure(quota, Overloaded("overloaded"), skipped=skipped))
    assert wait is not None
    assert wait.options == {("gemini/m0", "1K"), ("gemini/m1", "1K"), ("x/y", "2K")}
    assert wait.reasons[0] == "quota exhausted on gemini/m0"
    assert wait.reasons[-1] == "quota on x/y"
    open_breaker = SkippedOption("gemini/m", "1K", "breaker_open")
    assert why_parkable(_failure(skipped=(open_breaker,))) is not None
    for real in (ContentBlocked("no"), InvalidRequestError("bad"), AuthenticationError("key")):
        assert why_parkable(_failure(quota, real)) is None
    for skip in (
        SkippedOption("gemini/m", "1K", "route_rejected", "route rejected: bad size"),
        SkippedOption("gemini/m", "1K", "blocked", "the prompt was blocked"),
    ):
        assert why_parkable(_failure(quota, skipped=(skip,))) is None
    assert why_parkable(_failure(skipped=(SkippedOption("gemini/m", "4K", "unsupported"),))) is None
    assert why_parkable(InvalidRequestError("bad")) is None


def test_an_outage_parks_items_until_the_breaker_lets_them_through(tmp_path: Path) -> None:
    """Every attempt of three items is overloaded six times: they park on the router's
    breaker (its cool-down, then its probes) and are delivered once it lets them by."""
    items = [{"id": f"o{n}", "prompt": f"o{n} [sim:overloaded*6,success~20]"} for n in range(3)]

    async def outage() -> tuple[list[ItemResult], list[Any]]:
        async with Simulator("healthy", time_scale=1.0) as sim:
            route = Route(
                "gemini",
                model=_MODELS[0],
                base_url=sim.base_url("gemini"),
                api_key=sim.api_key("gemini"),
            )
            async with Router([route], clock=sim.clock, today=date(2026, 5, 1)) as router:
                until = timedelta(hours=1)
                results = [r async for r in run(router, items, tmp_path, until=until)]
                return results, list(sim.events)

    results, events = run_virtual(outage())
    assert all(r.ok for r in results)
    assert Counter(e.prompt for e in events if e.billed) == Counter(i["prompt"] for i in items)
    parked = [r for r in _journal(tmp_path) if r["type"] == "parked"]
    assert any("Overloaded on gemini/" in r["reason"] for r in parked)
    assert any("breaker open on gemini/" in r["reason"] for r in parked)
    assert max(e.started for e in events) < 3600  # well within `until`

"""Both features in one run: ``run_batch_api`` with ``park_until`` (``--batch-api`` with
``--until``). Items a job does not deliver go to the routes, where an outage parks them;
the journal and ``batch-jobs.jsonl`` tell one story, every item is billed once, and the
parking deadline counts from the start of the run, not from when the jobs ended."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from imagegate import Route, Router
from imagegate.batch import JOURNAL, ItemResult, Progress, run_batch_api
from imagegate.batch._gemini import GeminiBatch
from imagegate.batch._gemini_ledger import BATCH_JOBS
from imagegate.bench import run_virtual
from imagegate.testing.simulator import Simulator

MODEL = "gemini-3-pro-image"
# Online, each item's first six attempts are overloaded: the router's breaker opens and
# the item parks until the breaker lets it by (see tests/batch/test_park.py).
OUTAGE = "[sim:overloaded*6,success~20]"


def _scenario(**batch: Any) -> dict[str, Any]:
    return {
        "name": "batch-park",
        "profiles": [{"provider": "gemini", "latency_s": {"fixed": 20}, "price_usd": 0.134}],
        "batch": {"queue_s": 10, "run_s": 100, "expire_after_s": 86_400, **batch},
    }


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def _run(
    out: Path, items: list[dict[str, Any]], scenario: dict[str, Any], **kwargs: Any
) -> tuple[list[ItemResult], Progress, list[Any]]:
    async with Simulator(scenario, time_scale=1.0) as sim:
        route = Route(
            "gemini", model=MODEL, base_url=sim.base_url("gemini"),
            api_key=sim.api_key("gemini"), api_version="v1beta",
        )  # fmt: skip
        async with Router([route], clock=sim.clock, today=date(2026, 5, 1)) as router:
            batch = GeminiBatch.from_router(
                router, f"gemini/{MODEL}", poll_initial_s=10, poll_max_s=60
            )
            progress = Progress()
            results = run_batch_api(router, items, out, batch=batch, progress=progress, **kwargs)
            return [r async for r in results], progress, list(sim.events)


def test_items_a_failed_job_hands_to_the_routes_park_through_an_outage(tmp_path: Path) -> None:
    """A job fails; its three items go online into an outage, park on the breaker and
    are delivered once it lets them by. The ledger closes the job before the online run
    starts them again; each item is billed once (the failed job bills none)."""
    items = [{"id": f"o{n}", "prompt": f"o{n} [simbatch:job_failed] {OUTAGE}"} for n in range(3)]
    results, progress, events = run_virtual(
        _run(tmp_path, items, _scenario(), park_until=timedelta(hours=1))
    )
    assert sorted(r.id for r in results if r.ok) == ["o0", "o1", "o2"]
    assert all(r.route == f"gemini/{MODEL}" for r in results)
    billed = Counter(e.prompt for e in events if e.billed)
    assert sorted(billed.values()) == [1, 1, 1]
    assert {e.outcome for e in events if e.batch} == {"batch_failed"}
    assert progress.interrupted == 0  # the items handed over were not cut off
    assert progress.parked == 0
    ledger = _lines(tmp_path / BATCH_JOBS)
    assert [r["type"] for r in ledger] == ["submitting", "submitted", "closed"]
    assert ledger[-1]["state"] == "JOB_STATE_FAILED"
    journal = _lines(tmp_path / JOURNAL)
    kinds = [(r["type"], r.get("run")) for r in journal if r.get("id") == "o0"]
    # Run 1 starts it into the job; run 2 (the routes) starts it, parks it, wakes it.
    assert kinds[0] == ("started", 1)
    assert ("parked", 2) in kinds
    assert kinds[-1] == ("finished", 2)
    assert kinds.count(("finished", 2)) == 1
    assert [r["run"] for r in journal if r["type"] == "run"] == [1, 2]


def test_the_parking_deadline_counts_from_the_start_of_the_run(tmp_path: Path) -> None:
    """Jobs that would run for three hours, ``until`` two: they are cancelled and their
    items go online into an outage. ``park_until`` is one hour from the start, already
    past: the items fail at once, saying they would still be parked, and nothing of
    theirs is billed."""
    items = [{"id": f"o{n}", "prompt": f"o{n} {OUTAGE}"} for n in range(2)]
    until = {"until": timedelta(hours=2), "park_until": timedelta(hours=1)}
    results, progress, events = run_virtual(_run(tmp_path, items, _scenario(run_s=10_800), **until))
    assert [r.ok for r in results] == [False, False]
    assert all((r.error or "").startswith("parked (") for r in results)
    assert progress.expired == 2
    assert not [e for e in events if e.billed]
    assert all(e.started < 2 * 3600 + 600 for e in events)  # no wait past the deadline

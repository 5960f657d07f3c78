"""`run_batch_api` on the simulator: 100 items at the Batch API's half price, items a job
did not deliver (per-item errors, a failed job, an expired job, ``until``) on the online
routes, each item billed once in the simulator's own record, and resuming a run cut off
while its jobs were out without creating (or paying for) them again."""

from __future__ import annotations

import json
from collections import Counter
from contextlib import aclosing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from imagegate import Route, Router
from imagegate._provider import ProviderRequest
from imagegate.batch import JOURNAL, ItemResult, Progress, run, run_batch_api
from imagegate.batch._gemini import GeminiBatch
from imagegate.batch._gemini_ledger import BATCH_JOBS
from imagegate.testing.simulator import Simulator

MODEL = "gemini-3-pro-image"
ONLINE_1K = 0.134  # the catalogue's list price of gemini-3-pro-image at 1K
BATCH_1K = 0.067  # its batch price: half
SCALE = 1e-3  # real seconds per simulated second: the 5-minute expiry lasts 0.3 s


def _scenario(**batch: Any) -> dict[str, Any]:
    """Online: every call succeeds (so every billed event is an item's only one); the
    profile's price is the list price the simulator bills."""
    return {
        "name": "batch-test",
        "profiles": [
            {"provider": "gemini", "latency_s": {"fixed": 20}, "price_usd": ONLINE_1K},
            {"provider": "vertex", "latency_s": {"fixed": 20}, "price_usd": ONLINE_1K},
        ],
        "batch": {"queue_s": 10, "run_s": 100, "expire_after_s": 300, **batch},
    }


def _router(sim: Simulator) -> Router:
    """A gemini route at list prices (the Batch API's key and endpoint) and a vertex one."""
    return Router(
        [
            Route("gemini", model=MODEL, base_url=sim.base_url("gemini"),
                  api_key=sim.api_key("gemini"), api_version="v1beta"),
            Route("vertex", model=MODEL, base_url=sim.base_url("vertex"),
                  api_key=sim.api_key("vertex")),
        ],
        clock=sim.clock,
    )  # fmt: skip


def _items(count: int, marks: dict[int, str] | None = None) -> list[dict[str, Any]]:
    marks = marks or {}
    return [
        {"id": f"sku-{n}", "prompt": f"product shot {n}{marks.get(n, '')}", "size": "1K"}
        for n in range(count)
    ]


async def _batch_api(
    sim: Simulator, items: list[dict[str, Any]], out: Path, **kwargs: Any
) -> list[ItemResult]:
    async with _router(sim) as router:
        batch = GeminiBatch.from_router(
            router, f"gemini/{MODEL}", items_per_job=25, poll_initial_s=10, poll_max_s=60
        )
        return [r async for r in run_batch_api(router, items, out, batch=batch, **kwargs)]


def _billed_per_prompt(sim: Simulator) -> Counter[str]:
    return Counter(charge.prompt for charge in sim.charges())


async def test_a_hundred_items_at_half_price_and_the_rest_online(tmp_path: Path) -> None:
    """100 items in 4 jobs: one job fails, one expires, 5% of items in the others get a
    per-item error; all 100 are delivered, the batch's at $0.067 and the rest online at
    $0.134, each billed exactly once by the simulator, which agrees with the results'
    cost to the cent; the same 100 online cost at least $13.40."""
    marks = {30: " [simbatch:job_failed]", 60: " [simbatch:job_expired]"}
    async with Simulator(_scenario(item_errors=0.05), time_scale=SCALE) as sim:
        results = await _batch_api(sim, _items(100, marks), tmp_path / "batch")
        billed = _billed_per_prompt(sim)
        bill = sum(c.usd or 0.0 for c in sim.charges())
        batch_items = [e for e in sim.events if e.batch]
    assert len(results) == 100
    assert all(r.ok for r in results)
    by_route = Counter(r.route for r in results)
    in_batch = by_route[f"gemini-batch/{MODEL}"]
    assert 40 <= in_batch < 50  # jobs 0 and 3 delivered, less their per-item errors
    assert {e.outcome for e in batch_items} >= {"success", "error", "batch_failed"}
    assert "batch_expired" in {e.outcome for e in batch_items}
    assert all(r.cost_usd == BATCH_1K for r in results if r.route.startswith("gemini-batch"))
    assert all(r.cost_usd == ONLINE_1K for r in results if not r.route.startswith("gemini-b"))
    assert sorted(billed.values()) == [1] * 100  # every item billed once, batch or online
    total = sum(r.cost_usd for r in results)
    assert total == pytest.approx(bill)
    assert total == pytest.approx(in_batch * BATCH_1K + (100 - in_batch) * ONLINE_1K)

    async with Simulator(_scenario(), time_scale=SCALE) as sim, _router(sim) as router:
        online = [r async for r in run(router, _items(100), tmp_path / "online")]
    assert sum(r.cost_usd for r in online) >= 100 * ONLINE_1K - 1e-9
    assert total < 0.8 * sum(r.cost_usd for r in online)


async def test_until_cancels_slow_jobs_and_sends_their_items_online(tmp_path: Path) -> None:
    """Jobs that would run for hours, ``until`` ten minutes: the jobs are cancelled (their
    items never billed by the batch) and every item is delivered online."""
    scenario = _scenario(run_s=5000, expire_after_s=172_800)  # until passes long before
    async with Simulator(scenario, time_scale=SCALE) as sim:
        results = await _batch_api(sim, _items(10), tmp_path, until=timedelta(minutes=10))
        outcomes = Counter(e.outcome for e in sim.events if e.batch)
        billed = _billed_per_prompt(sim)
    assert all(r.ok and r.route in (f"gemini/{MODEL}", f"vertex/{MODEL}") for r in results)
    assert outcomes == {"batch_cancelled": 10}
    assert sorted(billed.values()) == [1] * 10


async def test_a_run_cut_off_while_its_job_is_out_resumes_from_the_job(tmp_path: Path) -> None:
    """Leave the loop while the job runs: the next run creates no job and sends nothing
    online; it takes the answers from the job the first run created, billed once."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        async with _router(sim) as router:
            batch = GeminiBatch.from_router(router, f"gemini/{MODEL}", poll_initial_s=10)
            first = run_batch_api(router, _items(6), tmp_path, batch=batch)
            async with aclosing(first) as answers:
                async for _ in answers:
                    break  # a result needs the job to end: leave at the first
        ledger = [json.loads(line) for line in (tmp_path / BATCH_JOBS).read_text().splitlines()]
        assert [r["type"] for r in ledger] == ["submitting", "submitted"]
        again = await _batch_api(sim, _items(6), tmp_path)
        jobs = list((tmp_path / BATCH_JOBS).read_text().splitlines())
        billed = _billed_per_prompt(sim)
        online = [e for e in sim.events if not e.batch]
    assert len(jobs) == 3  # the one job, closed: none created again
    assert sorted(r.id for r in again if r.ok) == [f"sku-{n}" for n in range(6)]
    assert sum(not r.resumed for r in again) == 5  # the sixth was delivered by the first run
    assert online == []
    assert sorted(billed.values()) == [1] * 6


async def test_a_kill_between_an_images_write_and_its_finished_record(tmp_path: Path) -> None:
    """A run whose last item's image was written when it was killed (its `finished`
    record and the job's `closed` never written): the next run reads the job again,
    writes the image again and finishes the item once; nothing is billed twice."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        first = await _batch_api(sim, _items(3), tmp_path)
        journal = (tmp_path / JOURNAL).read_text().splitlines()
        last = max(i for i, line in enumerate(journal) if '"finished"' in line)
        (tmp_path / JOURNAL).write_text("".join(f"{line}\n" for line in journal[:last]))
        ledger = (tmp_path / BATCH_JOBS).read_text().splitlines()
        (tmp_path / BATCH_JOBS).write_text("".join(f"{line}\n" for line in ledger[:-1]))
        cut = json.loads(journal[last])["id"]
        again = await _batch_api(sim, _items(3), tmp_path)
        billed = _billed_per_prompt(sim)
        online = [e for e in sim.events if not e.batch]
    assert all(r.ok for r in first)
    assert [(r.id, r.resumed) for r in again if not r.resumed] == [(cut, False)]
    assert (tmp_path / f"{cut}.jpg").exists() or (tmp_path / f"{cut}.png").exists()
    records = [json.loads(line) for line in (tmp_path / JOURNAL).read_text().splitlines()]
    finished = Counter(r["id"] for r in records if r["type"] == "finished")
    assert sorted(finished.values()) == [1, 1, 1]
    assert online == []
    assert sorted(billed.values()) == [1] * 3


async def test_an_item_the_model_cannot_take_goes_online(tmp_path: Path) -> None:
    """An aspect ratio the model refuses never goes into a job: the online routes decide."""
    items = [*_items(2), {"id": "odd", "prompt": "a tall tower", "aspect_ratio": "1:8"}]
    progress = Progress()
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        results = await _batch_api(sim, items, tmp_path, progress=progress)
        jobs = [e for e in sim.events if e.batch]
    assert {r.id: r.ok for r in results} == {"sku-0": True, "sku-1": True, "odd": False}
    assert sorted(e.prompt for e in jobs) == ["product shot 0", "product shot 1"]
    assert progress.done == 2
    assert progress.failed == 1


async def test_a_job_created_by_a_run_killed_before_it_learnt_its_name_is_found(
    tmp_path: Path,
) -> None:
    """The ledger says two jobs were being created when a run died: the one the API has
    (found by display name) is waited on, not created again; the one it never received
    is created now. Every item is billed once."""
    lines = [
        {"type": "submitting", "display_name": "imagegate-dead-run1-0", "model": MODEL,
         "ids": ["sku-0", "sku-1"]},
        {"type": "submitting", "display_name": "imagegate-dead-run1-1", "model": MODEL,
         "ids": ["sku-2"]},
    ]  # fmt: skip
    (tmp_path / BATCH_JOBS).write_text("".join(json.dumps(line) + "\n" for line in lines))
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        async with _router(sim) as router:
            batch = GeminiBatch.from_router(router, f"gemini/{MODEL}")
            requests = [batch.inline_request(i["id"], _call(i)) for i in _items(2)]
            await batch.create("imagegate-dead-run1-0", requests)
        results = await _batch_api(sim, _items(3), tmp_path)
        billed = _billed_per_prompt(sim)
        batch_events = sorted(e.prompt for e in sim.events if e.batch)
    ledger = [json.loads(line) for line in (tmp_path / BATCH_JOBS).read_text().splitlines()]
    assert all(r.ok and r.route == f"gemini-batch/{MODEL}" for r in results)
    assert batch_events == ["product shot 0", "product shot 1", "product shot 2"]
    assert sorted(billed.values()) == [1] * 3
    closed = [r for r in ledger if r["type"] == "closed"]
    assert [r["state"] for r in closed if r["display_name"].startswith("imagegate-dead")] == [
        "NOT_CREATED",
        "JOB_STATE_SUCCEEDED",
    ]


def _call(item: dict[str, Any]) -> ProviderRequest:
    return ProviderRequest(prompt=item["prompt"], model=MODEL, size=item["size"])

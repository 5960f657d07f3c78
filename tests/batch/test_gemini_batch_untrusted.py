"""More of what a hostile Batch API (a small server of the test's own) may send, and
what becomes of it: a listed job whose name is not ``batches/<id>`` is never adopted; an
item's error text is redacted, put on one line and capped; a job the API no longer
shows (404) ends the wait and its items go to the routes, instead of being polled
forever."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from _logcapture import captured_events
from imagegate import Route, Router
from imagegate._provider import ProviderRequest
from imagegate.batch import GeminiBatch, ItemResult, Progress, run_batch_api
from imagegate.batch._gemini import job_state
from imagegate.batch._gemini_ledger import BATCH_JOBS
from imagegate.errors import TransportError
from imagegate.providers.gemini import GeminiProvider
from imagegate.testing._images import make_jpeg
from imagegate.testing.simulator import Simulator

from ._serve import serve

MODEL = "gemini-3-pro-image"
KEY = "hostile-test-key-0123456789"
_META = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"


def _operation(name: str, state: str, **metadata: Any) -> dict[str, Any]:
    """A job as the API wraps it (``_BatchJob_from_mldev`` reads ``name`` and
    ``metadata.*``, google-genai 3.6 batches.py)."""
    meta = {"@type": _META, "model": f"models/{MODEL}", "name": name, "state": state}
    return {"name": name, "metadata": {**meta, **metadata}}


class _Hostile:
    """What the server answers, and how often it was asked for a job."""

    def __init__(self) -> None:
        self.gets = 0
        self.lists = 0
        self.creates = 0
        self.list_fails = False
        self.drop_create = False
        self.created: str | None = None
        self.next_page: str | None = None
        self.item_error: dict[str, Any] = {}


@pytest.fixture
async def hostile() -> AsyncIterator[tuple[str, _Hostile]]:
    state = _Hostile()

    async def create(request: web.Request) -> web.Response:
        state.creates += 1
        if state.drop_create:  # the job is made, the connection dropped before the answer
            state.created = (await request.json())["batch"]["displayName"]
            assert request.transport is not None
            request.transport.close()
        return web.json_response(_operation("batches/job1", "BATCH_STATE_PENDING"))

    async def get(request: web.Request) -> web.Response:
        state.gets += 1
        if request.match_info["id"] == "gone":
            said = f"Requested entity was not found (key {KEY})."  # an echo of the key
            error = {"code": 404, "message": said, "status": "NOT_FOUND"}
            return web.json_response({"error": error}, status=404)
        if request.match_info["id"] == "many":  # 300,000 empty answers: 0.9 MB of JSON
            many = {"inlinedResponses": {"inlinedResponses": [{}] * 300_000}}
            return web.json_response(_operation("batches/many", "BATCH_STATE_SUCCEEDED",
                                                output=many))  # fmt: skip
        if request.match_info["id"] == "made":
            jpeg = base64.b64encode(make_jpeg(1024, 1024)).decode()
            part = {"inlineData": {"mimeType": "image/jpeg", "data": jpeg}}
            candidate = {"content": {"role": "model", "parts": [part]}, "finishReason": "STOP"}
            answer = {"metadata": {"key": "a"}, "response": {"candidates": [candidate]}}
            output = {"inlinedResponses": {"inlinedResponses": [answer]}}
            made = _operation("batches/made", "BATCH_STATE_SUCCEEDED", output=output)
            return web.json_response({**made, "done": True})
        if request.match_info["id"] == "odd":
            return web.json_response(_operation("batches/odd", "BATCH_STATE_" + "X" * 5000))
        answers = [{"error": state.item_error, "metadata": {"key": "a"}}]
        output = {"inlinedResponses": {"inlinedResponses": answers}}
        done = _operation("batches/job1", "BATCH_STATE_SUCCEEDED", output=output)
        return web.json_response({**done, "done": True})

    async def listing(request: web.Request) -> web.Response:
        state.lists += 1
        if state.list_fails:
            error = {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}
            return web.json_response({"error": error}, status=500)
        jobs = [_operation("batches/x?alt=media&key=1", "BATCH_STATE_RUNNING", displayName="d")]
        if state.created is not None:
            made = _operation("batches/made", "BATCH_STATE_RUNNING", displayName=state.created)
            jobs.append(made)
        page: dict[str, Any] = {"operations": jobs}
        if state.next_page is not None:
            page["nextPageToken"] = state.next_page
        return web.json_response(page)

    app = web.Application()
    app.router.add_post("/v1beta/models/{model}:batchGenerateContent", create)
    app.router.add_get("/v1beta/batches/{id}", get)
    app.router.add_get("/v1beta/batches", listing)
    async with serve(app) as url:
        yield url, state


async def _run_online(
    url: str, items: list[dict[str, Any]], out: Path, **kwargs: Any
) -> tuple[list[ItemResult], list[Any]]:
    """`run_batch_api` with the hostile Batch API and a gemini route on the simulator;
    the results, and the simulator's record of the online attempts."""
    async with Simulator("healthy", time_scale=1e-3) as sim:
        route = Route(
            "gemini", model=MODEL, base_url=sim.base_url("gemini"), api_key=sim.api_key("gemini")
        )
        async with Router([route], clock=sim.clock) as router:
            batch = _batch(url)
            try:
                run = run_batch_api(router, items, out, batch=batch, **kwargs)
                results = [r async for r in run]
            finally:
                await batch._provider.aclose()
        return results, list(sim.events)


def _batch(url: str) -> GeminiBatch:
    provider = GeminiProvider(api_key=KEY, base_url=url, api_version="v1beta")
    return GeminiBatch(provider, MODEL, poll_initial_s=10, poll_max_s=60)


async def test_a_listed_job_with_a_name_unfit_for_a_url_is_not_adopted(
    hostile: tuple[str, _Hostile],
) -> None:
    """The list names the job a killed run was creating with a query in its name: it is
    not taken as that job (its name would go into the next request's URL)."""
    batch = _batch(hostile[0])
    try:
        assert await batch.find("d") is None
    finally:
        await batch._provider.aclose()


async def test_a_list_that_never_ends_is_read_for_a_bounded_number_of_pages(
    hostile: tuple[str, _Hostile],
) -> None:
    """Every page names a next one: the search stops after its page limit; a next-page
    token unfit for a URL ends it at once."""
    url, state = hostile
    state.next_page = "more"
    batch = _batch(url)
    try:
        assert await batch.find("nowhere") is None
        assert state.lists == 200
        state.lists, state.next_page = 0, "x&key=stolen"
        assert await batch.find("nowhere") is None
        assert state.lists == 1
    finally:
        await batch._provider.aclose()


async def test_a_job_with_far_more_answers_than_items_is_refused_unparsed(
    hostile: tuple[str, _Hostile],
) -> None:
    """300,000 answers for a job of 50 items would take some 200 MB as google-genai's
    objects: the answer is refused before it is parsed."""
    batch = _batch(hostile[0])
    try:
        with pytest.raises(TransportError, match="JSON values"):
            await batch.get("batches/many", 50)
    finally:
        await batch._provider.aclose()


async def test_a_state_the_api_does_not_name_is_unknown(hostile: tuple[str, _Hostile]) -> None:
    """A 5,000-character state is dropped before google-genai reads it (it would warn
    with the whole string): the job's state is unknown, and nothing of it is kept."""
    batch = _batch(hostile[0])
    try:
        job = await batch.get("batches/odd")
    finally:
        await batch._provider.aclose()
    assert job.state is None
    assert job_state(job) == "UNKNOWN"


async def test_an_items_error_text_is_redacted_on_one_line_and_capped(
    hostile: tuple[str, _Hostile],
) -> None:
    url, state = hostile
    state.item_error = {
        "code": 10**300,
        "message": f"API key {KEY} not valid.\n\n" + "a very long story " * 500,
    }
    batch = _batch(url)
    try:
        job = await batch.get("batches/job1")
        (answer,) = batch.answers(job, [("a", ProviderRequest(prompt="p", model=MODEL, size="1K"))])
    finally:
        await batch._provider.aclose()
    said = str(answer.error)
    assert answer.response is None
    assert KEY not in said
    assert "\n" not in said
    assert "0" * 50 not in said  # a code that is no status code is left out
    assert len(said) < 400


async def test_a_job_the_api_no_longer_shows_sends_its_items_online(
    hostile: tuple[str, _Hostile], tmp_path: Path
) -> None:
    """The job's every poll answers 404 (echoing the key): one poll, then the job is
    closed unreadable and its two items are delivered by the routes; the key is in no
    log line and no file of the output folder."""
    url, state = hostile
    items = [{"id": i, "prompt": f"item {i}"} for i in "ab"]
    (tmp_path / BATCH_JOBS).write_text(
        json.dumps({"type": "submitting", "display_name": "d1", "model": MODEL, "ids": ["a", "b"]})
        + "\n"
        + json.dumps({"type": "submitted", "display_name": "d1", "job": "batches/gone"})
        + "\n"
    )
    with captured_events() as events:
        results, _ = await _run_online(url, items, tmp_path)
    assert sorted(r.id for r in results if r.ok) == ["a", "b"]
    assert any(e["event"] == "batch_api.poll_failed" for e in events)
    assert KEY not in repr(events)  # the echoed key is in no log line
    for name in (BATCH_JOBS, "journal.jsonl", "results.jsonl"):
        assert KEY not in (tmp_path / name).read_text()
    assert all(r.route == f"gemini/{MODEL}" for r in results)
    assert state.gets == 1
    closed = json.loads((tmp_path / BATCH_JOBS).read_text().splitlines()[-1])
    assert closed["state"] == "UNREADABLE"


async def test_items_of_a_job_that_may_exist_are_not_sent_while_the_list_fails(
    hostile: tuple[str, _Hostile], tmp_path: Path
) -> None:
    """A killed run was creating a job for two items; the list cannot be read now. The
    job may exist (and bill them): the items are neither sent in a new job nor online,
    the entry stays open for a later run."""
    url, state = hostile
    state.list_fails = True
    submitting = {"type": "submitting", "display_name": "d9", "model": MODEL, "ids": ["a", "b"]}
    (tmp_path / BATCH_JOBS).write_text(json.dumps(submitting) + "\n")
    items = [{"id": i, "prompt": f"item {i}"} for i in "ab"]
    progress = Progress()
    results, online = await _run_online(url, items, tmp_path, progress=progress)
    assert results == []
    assert progress.held == 2
    assert online == []
    assert state.creates == 0
    assert (tmp_path / BATCH_JOBS).read_text().splitlines() == [json.dumps(submitting)]


async def test_a_job_that_never_names_a_known_state_is_given_up(
    hostile: tuple[str, _Hostile], tmp_path: Path
) -> None:
    """Every poll of the job answers a state the API does not have: after 12 such polls
    the job is closed unreadable and its item is delivered by the routes (it was polled
    forever)."""
    url, state = hostile
    lines = [
        {"type": "submitting", "display_name": "d2", "model": MODEL, "ids": ["a"]},
        {"type": "submitted", "display_name": "d2", "job": "batches/odd"},
    ]
    (tmp_path / BATCH_JOBS).write_text("".join(json.dumps(line) + "\n" for line in lines))
    results, _ = await _run_online(url, [{"id": "a", "prompt": "item a"}], tmp_path)
    assert [(r.id, r.ok, r.route) for r in results] == [("a", True, f"gemini/{MODEL}")]
    assert state.gets == 12
    closed = json.loads((tmp_path / BATCH_JOBS).read_text().splitlines()[-1])
    assert closed["state"] == "UNREADABLE"


async def test_a_job_whose_creation_lost_its_answer_is_found_not_sent_again(
    hostile: tuple[str, _Hostile], tmp_path: Path
) -> None:
    """The API makes the job but the connection drops before its answer: the job is
    looked up by its display name and its item delivered from it, not sent online too
    (which would bill it twice)."""
    url, state = hostile
    state.drop_create = True
    results, online = await _run_online(url, [{"id": "a", "prompt": "item a"}], tmp_path)
    assert [(r.id, r.ok, r.route) for r in results] == [("a", True, f"gemini-batch/{MODEL}")]
    assert online == []
    assert state.creates == 1
    ledger = [json.loads(line) for line in (tmp_path / BATCH_JOBS).read_text().splitlines()]
    assert [r["type"] for r in ledger] == ["submitting", "submitted", "closed"]
    assert ledger[1]["job"] == "batches/made"

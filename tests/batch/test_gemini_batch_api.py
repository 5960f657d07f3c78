"""The simulated Gemini Batch API through the real google-genai SDK
(``client.aio.batches``): job states over time, answers in order with per-item errors,
a failed job, expiry, cancel, list and delete, and refusals."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from google import genai
from google.genai import errors, types

from imagegate.testing.simulator import Simulator

MODEL = "gemini-3-pro-image"
SCALE = 1e-3


def _scenario(**batch: Any) -> dict[str, Any]:
    return {
        "name": "batch-api",
        "profiles": [{"provider": "gemini", "price_usd": 0.134}],
        "batch": {"queue_s": 100, "run_s": 200, "expire_after_s": 600, **batch},
    }


def _client(sim: Simulator, key: str | None = None) -> genai.Client:
    options = types.HttpOptions(base_url=sim.base_url("gemini"), api_version="v1beta")
    return genai.Client(api_key=key or sim.api_key("gemini"), http_options=options)


def _requests(*prompts: str) -> list[types.InlinedRequest]:
    config = types.GenerateContentConfig(
        response_modalities=["TEXT", "IMAGE"],
        image_config=types.ImageConfig(aspect_ratio="16:9", image_size="2K"),
    )
    return [
        types.InlinedRequest(contents=p, config=config, metadata={"key": f"k{n}"})
        for n, p in enumerate(prompts)
    ]


async def _at(sim: Simulator, seconds: float) -> None:
    """Sleep until simulated second ``seconds`` after now."""
    await sim.clock.sleep(seconds)


async def test_a_job_goes_pending_running_succeeded_with_answers_in_order() -> None:
    """PENDING, then RUNNING after the queue time, then SUCCEEDED with each answer in the
    requests' order: images of the size asked, a per-item error where one was forced;
    the items are billed once, at half the profile's price."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        client = _client(sim)
        job = await client.aio.batches.create(
            model=MODEL, src=_requests("a", "b [simbatch:error]", "c"),
            config=types.CreateBatchJobConfig(display_name="three"),
        )  # fmt: skip
        assert job.state == types.JobState.JOB_STATE_PENDING
        assert job.name is not None
        assert job.name.startswith("batches/")
        assert job.display_name == "three"
        assert job.model == f"models/{MODEL}"
        await _at(sim, 150)
        running = await client.aio.batches.get(name=job.name)
        assert running.state == types.JobState.JOB_STATE_RUNNING
        assert running.dest is None
        await _at(sim, 200)
        done = await client.aio.batches.get(name=job.name)
        await client.aio.aclose()
        charges = sim.charges()
    assert done.state == types.JobState.JOB_STATE_SUCCEEDED
    assert done.end_time is not None
    assert done.dest is not None
    assert done.dest.inlined_responses is not None
    answers = done.dest.inlined_responses
    assert [a.metadata for a in answers] == [{"key": "k0"}, {"key": "k1"}, {"key": "k2"}]
    assert answers[1].error is not None
    assert answers[1].error.code in (4, 13)
    assert answers[1].response is None
    for answer in (answers[0], answers[2]):
        assert answer.response is not None
        assert answer.response.candidates
        parts = answer.response.candidates[0].content.parts  # type: ignore[union-attr]
        blob = next(p.inline_data for p in parts if p.inline_data is not None)  # type: ignore[union-attr]
        assert blob.mime_type == "image/jpeg"
        assert blob.data
    assert sorted((c.prompt, c.batch, c.usd) for c in charges) == [
        ("a", True, 0.067),
        ("c", True, 0.067),
    ]


async def test_a_failed_job_and_an_expired_job_have_no_answers_and_cost_nothing() -> None:
    """A job marked to fail ends FAILED; a slow one ends EXPIRED at the expiry time;
    neither has answers and neither is billed."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        client = _client(sim)
        failed = await client.aio.batches.create(
            model=MODEL, src=_requests("x [simbatch:job_failed]", "y")
        )
        slow = await client.aio.batches.create(
            model=MODEL, src=_requests("z [simbatch:job_expired]")
        )
        await _at(sim, 400)
        assert failed.name
        assert slow.name
        failed_now = await client.aio.batches.get(name=failed.name)
        slow_now = await client.aio.batches.get(name=slow.name)
        assert slow_now.state == types.JobState.JOB_STATE_RUNNING
        await _at(sim, 250)
        expired = await client.aio.batches.get(name=slow.name)
        await client.aio.aclose()
        events = sim.events
    assert failed_now.state == types.JobState.JOB_STATE_FAILED
    assert failed_now.dest is None
    assert expired.state == types.JobState.JOB_STATE_EXPIRED
    assert expired.dest is None
    assert sorted(e.outcome for e in events) == ["batch_expired", "batch_failed", "batch_failed"]
    assert not any(e.billed for e in events)


async def test_cancel_list_and_delete() -> None:
    """A cancelled job ends CANCELLED and bills nothing; on the wire it is a done
    Operation whose error has code 1 (``batches.cancel`` in the API reference); list
    shows it by display name; a deleted job is gone (404)."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        client = _client(sim)
        job = await client.aio.batches.create(
            model=MODEL, src=_requests("p"), config={"display_name": "to-cancel"}
        )
        assert job.name
        await client.aio.batches.cancel(name=job.name)
        cancelled = await client.aio.batches.get(name=job.name)
        async with aiohttp.ClientSession() as http:
            url = f"{sim.base_url('gemini')}/v1beta/{job.name}"
            headers = {"x-goog-api-key": sim.api_key("gemini")}
            async with http.get(url, headers=headers) as answer:
                wire = await answer.json()
        pager = await client.aio.batches.list(config=types.ListBatchJobsConfig(page_size=10))
        listed = [(j.display_name, j.state) async for j in pager]
        await client.aio.batches.delete(name=job.name)
        with pytest.raises(errors.ClientError) as gone:
            await client.aio.batches.get(name=job.name)
        await client.aio.aclose()
        events = sim.events
    assert cancelled.state == types.JobState.JOB_STATE_CANCELLED
    assert wire["done"] is True
    assert wire["error"]["code"] == 1
    assert "response" not in wire
    assert listed == [("to-cancel", types.JobState.JOB_STATE_CANCELLED)]
    assert gone.value.code == 404
    assert [(e.outcome, e.billed) for e in events] == [("batch_cancelled", False)]


async def test_deleting_a_running_job_does_not_cancel_it() -> None:
    """``batches.delete`` "does not cancel the operation" (the API reference): the job
    is gone from get, but runs on to its end and its item is billed."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        client = _client(sim)
        job = await client.aio.batches.create(model=MODEL, src=_requests("p"))
        assert job.name
        await client.aio.batches.delete(name=job.name)
        with pytest.raises(errors.ClientError) as gone:
            await client.aio.batches.get(name=job.name)
        await _at(sim, 400)  # past its end (queue 100 s, run 200 s)
        await client.aio.aclose()
        events = sim.events
    assert gone.value.code == 404
    assert [(e.outcome, e.billed) for e in events] == [("success", True)]


async def test_refusals_a_bad_key_a_bad_size_an_unknown_model() -> None:
    """A wrong key is refused before anything is held; an invalid image size and a model
    no profile serves refuse the whole batch."""
    async with Simulator(_scenario(), time_scale=SCALE) as sim:
        wrong = _client(sim, key="not-the-key")
        with pytest.raises(errors.ClientError) as auth:
            await wrong.aio.batches.create(model=MODEL, src=_requests("a"))
        client = _client(sim)
        bad = types.InlinedRequest(contents="a", config={"image_config": {"image_size": "8K"}})
        with pytest.raises(errors.ClientError) as size:
            await client.aio.batches.create(model=MODEL, src=[bad])
        scenario = {"name": "only-vertex", "profiles": [{"provider": "vertex"}]}
        async with Simulator(scenario, time_scale=SCALE) as other:
            # Held in a name: google-genai 2.x closes a client's session when the Client
            # object is collected, which a temporary would be in the middle of the call.
            elsewhere = _client(other)
            with pytest.raises(errors.ClientError) as unknown:
                await elsewhere.aio.batches.create(model=MODEL, src=_requests("a"))
        for c in (wrong, client, elsewhere):
            await c.aio.aclose()
    assert auth.value.code in (400, 401, 403)
    assert size.value.code == 400
    assert "image_size" in str(size.value.message)
    assert unknown.value.code == 404

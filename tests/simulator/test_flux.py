"""Black Forest Labs (Flux), driven with aiohttp: submit, poll, download."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from imagegate._result import GeneratedImage
from imagegate.testing.simulator import Simulator


def _headers(sim: Simulator) -> dict[str, str]:
    return {"x-key": sim.api_key("flux")}


async def _submit(
    http: aiohttp.ClientSession, sim: Simulator, model: str, **body: Any
) -> tuple[int, Any]:
    url = f"{sim.base_url('flux')}/v1/{model}"
    async with http.post(url, json=body, headers=_headers(sim)) as response:
        return response.status, await response.json()


async def _poll(http: aiohttp.ClientSession, sim: Simulator, polling_url: str) -> list[Any]:
    """Every answer until a terminal status (bounded)."""
    answers = []
    for _ in range(2000):
        async with http.get(polling_url, headers=_headers(sim)) as response:
            assert response.status == 200
            answers.append(await response.json())
        if answers[-1]["status"] != "Pending":
            return answers
        await asyncio.sleep(0.001)
    raise AssertionError("the task never finished")


async def test_ultra_submit_poll_download(http: aiohttp.ClientSession) -> None:
    """Submit → Pending with progress → Ready → a signed JPEG of about 4 MP."""
    async with Simulator("healthy", time_scale=0.001) as sim:
        await _ultra_flow(sim, http)


async def _ultra_flow(sim: Simulator, http: aiohttp.ClientSession) -> None:
    prompt = "a tree [sim:success~100]"  # 0.1 s of real time: long enough to see Pending
    status, task = await _submit(
        http, sim, "flux-pro-1.1-ultra", prompt=prompt, aspect_ratio="16:9", seed=42
    )
    assert status == 200
    assert task["polling_url"].startswith(sim.url)
    assert task["cost"] == 6.0
    answers = await _poll(http, sim, task["polling_url"])
    pending = [a for a in answers if a["status"] == "Pending"]
    assert pending
    assert all(0 <= a["progress"] < 1 for a in pending)
    ready = answers[-1]
    assert ready["status"] == "Ready"
    assert (ready["result"]["prompt"], ready["result"]["seed"]) == (prompt, 42)
    async with http.get(ready["result"]["sample"]) as download:
        assert download.status == 200
        assert download.content_type == "image/jpeg"
        image = GeneratedImage(await download.read())
    assert (image.mime_type, image.size) == ("image/jpeg", "2K")
    assert 16 / 9 - 0.02 < image.width / image.height < 16 / 9 + 0.02
    (event,) = sim.events
    assert (event.provider, event.size, event.outcome, event.status) == (
        "flux",
        "2K",
        "success",
        200,
    )
    assert (event.width, event.height) == (image.width, image.height)
    assert event.bytes_sent > len(image.data)
    assert event.billed


async def test_pro_width_height_and_png(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """flux-pro-1.1 takes width/height (defaults 1024×768); output_format png gives a PNG."""
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt="a tree", output_format="png")
    ready = (await _poll(http, sim, task["polling_url"]))[-1]
    async with http.get(ready["result"]["sample"]) as download:
        image = GeneratedImage(await download.read())
    assert (image.mime_type, image.width, image.height) == ("image/png", 1024, 768)


@pytest.mark.parametrize(
    ("model", "body", "field", "kind"),
    [
        ("flux-pro-1.1", {"width": 1000}, "width", "multiple_of"),
        ("flux-pro-1.1", {"height": 1472}, "height", "less_than_equal"),
        ("flux-dev", {"width": 128}, "width", "greater_than_equal"),
        ("flux-pro-1.1", {"safety_tolerance": 7}, "safety_tolerance", "less_than_equal"),
        ("flux-2-pro", {"safety_tolerance": 6}, "safety_tolerance", "less_than_equal"),
        ("flux-pro-1.1-ultra", {"aspect_ratio": "4:1"}, "aspect_ratio", "value_error"),
        ("flux-pro-1.1", {"output_format": "gif"}, "output_format", "enum"),
        ("flux-kontext-pro", {}, "prompt", "missing"),
    ],
)
async def test_validation_is_fastapi_422(
    sim: Simulator,
    http: aiohttp.ClientSession,
    model: str,
    body: dict[str, Any],
    field: str,
    kind: str,
) -> None:
    """Invalid inputs get FastAPI's 422 ``detail`` list naming the field."""
    if model != "flux-kontext-pro":
        body = {"prompt": "a tree", **body}
    status, answer = await _submit(http, sim, model, **body)
    assert status == 422
    (issue,) = answer["detail"]
    assert (issue["loc"], issue["type"]) == (["body", field], kind)
    assert issue["msg"]
    assert sim.events[0].outcome == "invalid_request"


@pytest.mark.parametrize(
    ("kind", "status", "details_key"),
    [
        ("prompt_blocked", "Request Moderated", "Moderation Reasons"),
        ("image_safety", "Content Moderated", "Moderation Reasons"),
        ("internal", "Error", "error"),
        ("deadline", "Error", "error"),
    ],
)
async def test_terminal_failures(
    sim: Simulator, http: aiohttp.ClientSession, kind: str, status: str, details_key: str
) -> None:
    """Moderation and errors end the task with BFL's statuses and no result."""
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt=f"x [sim:{kind}]")
    final = (await _poll(http, sim, task["polling_url"]))[-1]
    assert final["status"] == status
    assert final["result"] is None
    assert details_key in final["details"]
    (event,) = sim.events
    assert (event.outcome, event.billed) == (kind, False)


async def test_deadline_stays_pending_until_the_deadline(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    """A task that hits the server deadline reads Pending for the whole 600 s."""
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt="x [sim:deadline]")
    answers = await _poll(http, sim, task["polling_url"])
    assert answers[-1]["details"] == {"error": "Task timed out"}
    assert sim.events[0].ended == pytest.approx(sim.events[0].started + 600)


async def test_unknown_task(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """An id the service never issued reads ``Task not found``."""
    url = f"{sim.base_url('flux')}/v1/get_result?id=nope"
    async with http.get(url, headers=_headers(sim)) as response:
        assert (await response.json())["status"] == "Task not found"
    async with http.get(f"{sim.base_url('flux')}/v1/get_result", headers=_headers(sim)) as missing:
        assert missing.status == 422


@pytest.mark.parametrize(("model", "limit"), [("flux-pro-1.1", 24), ("flux-kontext-max", 6)])
async def test_active_task_limit(http: aiohttp.ClientSession, model: str, limit: int) -> None:
    """24 active tasks per key (6 for kontext-max); one more is a 429 with Retry-After."""
    slow = {"name": "slow", "profiles": [{"provider": "flux", "latency_s": 1e5, "deadline_s": 1e6}]}
    async with Simulator(slow, time_scale=0.0001) as sim:
        for i in range(limit):
            status, _ = await _submit(http, sim, model, prompt=f"slow {i}")
            assert status == 200
        assert sim.statistics().active_flux_tasks == limit
        url = f"{sim.base_url('flux')}/v1/{model}"
        async with http.post(url, json={"prompt": "one more"}, headers=_headers(sim)) as response:
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
            assert "active tasks" in (await response.json())["detail"]
        assert sim.events[-1].outcome == "rate_limited"
        assert sim.events[-1].planned == "success"


@pytest.mark.parametrize(
    ("kind", "status"), [("overloaded", 503), ("quota_exhausted", 402), ("rate_limited", 429)]
)
async def test_submit_errors(
    sim: Simulator, http: aiohttp.ClientSession, kind: str, status: int
) -> None:
    """Capacity, credit and rate errors come back at submit with a ``detail``."""
    code, answer = await _submit(http, sim, "flux-pro-1.1", prompt=f"x [sim:{kind}]")
    assert code == status
    assert answer["detail"]
    assert sim.events[0].outcome == kind


async def test_html_502_and_reset_at_submit(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """A proxy's HTML 502, and a reset connection, at submit."""
    url = f"{sim.base_url('flux')}/v1/flux-pro-1.1"
    async with http.post(url, json={"prompt": "x [sim:html_502]"}, headers=_headers(sim)) as r:
        assert (r.status, r.content_type) == (502, "text/html")
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.post(url, json={"prompt": "x [sim:reset~500]"}, headers=_headers(sim)) as r:
            await r.read()
    assert [e.outcome for e in sim.events] == ["html_502", "reset"]
    assert [e.billed for e in sim.events] == [False, True]  # the reset task was created


async def test_truncated_download(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The sample download stops halfway through its declared length."""
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt="x [sim:truncated]")
    ready = (await _poll(http, sim, task["polling_url"]))[-1]
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(ready["result"]["sample"]) as download:
            await download.read()
    assert sim.events[0].width is None


async def test_slow_download(sim: Simulator, http: aiohttp.ClientSession) -> None:
    """The sample trickles in, and still decodes."""
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt="x [sim:slow_body]")
    ready = (await _poll(http, sim, task["polling_url"]))[-1]
    async with http.get(ready["result"]["sample"]) as download:
        image = GeneratedImage(await download.read())
    assert image.width == 1024
    assert sim.events[0].outcome == "slow_body"


async def test_sample_url_expires_and_cannot_be_forged(http: aiohttp.ClientSession) -> None:
    """The signed URL works for 10 simulated minutes; a changed signature never does."""
    # 1 ms per simulated second: the URL lives 0.6 s of real time, plenty to download
    # even through a CPU stall on a busy machine.
    async with Simulator("healthy", time_scale=0.001) as sim:
        await _expiry_flow(sim, http)


async def _expiry_flow(sim: Simulator, http: aiohttp.ClientSession) -> None:
    _, task = await _submit(http, sim, "flux-pro-1.1", prompt="a tree")
    ready = (await _poll(http, sim, task["polling_url"]))[-1]
    sample = ready["result"]["sample"]
    async with http.get(sample.replace("sig=", "sig=0")) as forged:
        assert forged.status == 403
    async with http.get(sample) as fresh:
        assert fresh.status == 200
    await sim.clock.sleep(601)
    async with http.get(sample) as expired:
        assert expired.status == 403
        assert "AuthenticationFailed" in await expired.text()


@pytest.mark.parametrize(
    ("key", "detail"), [(None, "Not authenticated"), ("bad", "Invalid API key")]
)
async def test_auth(
    sim: Simulator, http: aiohttp.ClientSession, key: str | None, detail: str
) -> None:
    """A missing or wrong ``x-key`` is refused with a ``detail``."""
    headers = {"x-key": key} if key else {}
    url = f"{sim.base_url('flux')}/v1/flux-pro-1.1"
    async with http.post(url, json={"prompt": "x"}, headers=headers) as response:
        assert response.status == 403
        assert (await response.json()) == {"detail": detail}
    assert sim.events[0].outcome == "auth_error"


async def test_polling_and_sample_urls_name_bfl_s_hosts(http: aiohttp.ClientSession) -> None:
    """The polling URL names the regional API host and the sample the delivery host, each
    mapped onto the simulator's origin, with the real paths and an Azure SAS query; every
    error body is BFL's ``{"detail": ...}``."""
    # The sample URL lives 600 simulated seconds: 0.6 s of real time at 1 ms each.
    async with Simulator("healthy", time_scale=0.001) as sim:
        _, task = await _submit(http, sim, "flux-pro-1.1", prompt="a tree", width=1024, height=768)
        polling = urlsplit(task["polling_url"])
        assert polling.path == "/flux/hosts/api.eu1.bfl.ai/v1/get_result"
        assert parse_qs(polling.query) == {"id": [task["id"]]}
        ready = (await _poll(http, sim, task["polling_url"]))[-1]
        sample = urlsplit(ready["result"]["sample"])
        assert sample.path == (
            f"/flux/hosts/delivery-eu1.bfl.ai/results/{task['id'][:2]}/{task['id']}/sample.jpeg"
        )
        query = parse_qs(sample.query)
        assert set(query) == {"se", "sp", "sv", "sr", "rsct", "sig"}
        assert query["rsct"] == ["image/jpeg"]
        datetime.strptime(query["se"][0], "%Y-%m-%dT%H:%M:%SZ")
        async with http.get(ready["result"]["sample"]) as download:
            assert download.status == 200
        # The delivery host serves samples only; the API host does not serve them.
        wrong = ready["result"]["sample"].replace("delivery-eu1.bfl.ai", "api.eu1.bfl.ai")
        async with http.get(wrong) as refused:
            assert refused.status == 404
            assert await refused.json() == {"detail": "Not Found"}
        async with http.post(f"{sim.base_url('flux')}/v1/flux-pro-1.1", json={}) as denied:
            assert denied.status == 403
            assert set(await denied.json()) == {"detail"}

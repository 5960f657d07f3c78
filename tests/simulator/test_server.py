"""The Simulator itself: lifecycle, event log, determinism, disconnects, CLI helpers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import importlib
import inspect
from collections.abc import Callable
from typing import Any

import aiohttp
import openai
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2.credentials import Credentials

import imagegate.testing.simulator as simulator_module
from imagegate.testing.simulator import (
    SimEvent,
    Simulator,
    describe_simulator,
    serve_forever,
)

GeminiFactory = Callable[..., genai.Client]
OpenAIFactory = Callable[..., openai.AsyncOpenAI]


async def test_base_urls_and_keys(sim: Simulator) -> None:
    """Each provider has its base URL on the simulator's port, and a fixed key."""
    assert sim.base_url("gemini") == f"{sim.url}/gemini"
    assert sim.base_url("vertex") == f"{sim.url}/vertex"
    assert sim.base_url("openai") == f"{sim.url}/openai/v1"
    assert sim.base_url("openai_compatible") == f"{sim.url}/openai_compatible/v1"
    assert sim.base_url("flux") == f"{sim.url}/flux"
    assert sim.url == f"http://127.0.0.1:{sim.port}"
    assert sim.port > 0
    assert sim.api_key("gemini") == "sim-gemini-key"
    assert sim.api_key("openai_compatible") == "sim-openai-compatible-key"
    with pytest.raises(ValueError, match="unknown provider 'dalle'"):
        sim.base_url("dalle")
    with pytest.raises(ValueError, match="unknown provider"):
        sim.api_key("dalle")
    assert "outage" not in repr(sim)
    assert "healthy" in repr(sim)


async def test_not_running() -> None:
    """Before start there is no URL; a second start is refused; aclose is idempotent."""
    sim = Simulator()
    with pytest.raises(RuntimeError, match="not running"):
        sim.base_url("gemini")
    async with sim:
        with pytest.raises(RuntimeError, match="already running"):
            await sim.start()
    await sim.aclose()
    assert sim.statistics().open_connections == 0


async def test_clock_is_shared_and_scaled() -> None:
    """``sim.clock`` is a ScaledClock with the simulator's time scale."""
    async with Simulator(time_scale=0.001) as sim:
        before = sim.clock.now()
        await sim.clock.sleep(5)
        assert sim.clock.now() - before >= 5
        assert sim.clock.scale == sim.time_scale == 0.001


async def test_attempt_counter_counts_per_tuple(sim: Simulator, gemini: genai.Client) -> None:
    """k counts earlier attempts of the same (prompt, provider, model, size) only."""
    for prompt, size in [("a", "1K"), ("a", "1K"), ("a", "2K"), ("b", "1K"), ("a", "1K")]:
        await gemini.aio.models.generate_content(
            model="gemini-3-pro-image",
            contents=prompt,
            config=types.GenerateContentConfig(image_config=types.ImageConfig(image_size=size)),
        )
    assert [e.attempt for e in sim.events] == [0, 1, 0, 0, 2]
    assert all(e.outcome == e.planned for e in sim.events)
    assert sim.events[1] == dataclasses.replace(
        sim.events[1],
        latency_s=sim.world.plan(
            prompt="a", provider="gemini", model="gemini-3-pro-image", size="1K", attempt=1
        ).latency_s,
    )
    sim.clear_events()
    assert sim.events == []


async def _run_script(
    sim: Simulator, make_gemini: GeminiFactory, make_openai: OpenAIFactory
) -> None:
    """A fixed, sequential mix of calls on every protocol."""
    gemini = make_gemini(sim)
    for i in range(6):
        for size in ("4K", "2K", "1K"):
            try:
                await gemini.aio.models.generate_content(
                    model="gemini-3-pro-image",
                    contents=f"scene {i}",
                    config=types.GenerateContentConfig(
                        image_config=types.ImageConfig(image_size=size, aspect_ratio="16:9")
                    ),
                )
                break
            except errors.APIError:
                continue
    vertex = make_gemini(
        sim,
        provider="vertex",
        client_options={
            "project": "p",
            "location": "global",
            "credentials": Credentials(token=sim.api_key("vertex")),
        },
    )
    for i in range(3):
        with contextlib.suppress(errors.APIError):
            await vertex.aio.models.generate_content(
                model="gemini-3-pro-image",
                contents=f"scene {i}",
                config=types.GenerateContentConfig(image_config=types.ImageConfig(image_size="4K")),
            )
    oai = make_openai(sim)
    await oai.images.generate(model="gpt-image-1", prompt="scene 0", size="1536x1024")
    aggregator = make_openai(sim, "openai_compatible")
    for i in range(3):
        with contextlib.suppress(openai.APIError):
            await aggregator.chat.completions.create(
                model="nano-banana-pro",
                messages=[{"role": "user", "content": f"scene {i}"}],
                extra_body={"modalities": ["image"], "image_config": {"image_size": "2K"}},
            )
    async with aiohttp.ClientSession() as http:
        headers = {"x-key": sim.api_key("flux")}
        url = f"{sim.base_url('flux')}/v1/flux-pro-1.1-ultra"
        async with http.post(url, json={"prompt": "scene 0"}, headers=headers) as response:
            polling_url = (await response.json())["polling_url"]
        for _ in range(10_000):
            async with http.get(polling_url, headers=headers) as response:
                answer = await response.json()
            if answer["status"] != "Pending":
                break
            await asyncio.sleep(0.0005)
        async with http.get(answer["result"]["sample"]) as response:
            await response.read()


def _comparable(events: list[SimEvent]) -> list[tuple[Any, ...]]:
    """Everything but the wall-clock noise (when exactly each call started and ended)."""
    return [
        tuple(
            getattr(e, f.name) for f in dataclasses.fields(e) if f.name not in ("started", "ended")
        )
        for e in events
    ]


async def test_same_seed_same_event_log(
    make_gemini: GeminiFactory, make_openai: OpenAIFactory
) -> None:
    """Two runs with the same seed and calls log identical attempts; another seed differs."""
    logs = []
    for seed in (0, 0, 1):
        async with Simulator("outage-2026-01-21", seed=seed, time_scale=0.0001) as sim:
            await _run_script(sim, make_gemini, make_openai)
            logs.append(_comparable(sim.events))
    assert logs[0] == logs[1]
    assert logs[0] != logs[2]
    outcomes = {event[7] for event in logs[0]}
    assert {"success", "deadline"} <= outcomes
    assert len(logs[0]) >= 6 + 3 + 1 + 3 + 1


async def test_cancelled_call_is_logged_disconnected_and_leaves_nothing_open(
    make_openai: OpenAIFactory,
) -> None:
    """A client that gives up mid-call cancels the handler; billing follows the plan."""
    async with Simulator("healthy", time_scale=0.01) as sim:
        client = make_openai(sim)
        calls = [
            asyncio.ensure_future(
                client.images.generate(model="gpt-image-1", prompt=f"x [sim:{kind}~100]")
            )
            for kind in ("success", "internal")
        ]
        for _ in range(1000):
            if sim.statistics().in_flight == 2:
                break
            await asyncio.sleep(0.001)
        assert sim.statistics().in_flight == 2
        assert [e.outcome for e in sim.events] == ["pending", "pending"]
        for call in calls:
            call.cancel()
        await asyncio.gather(*calls, return_exceptions=True)
        await client.close()
        stats = await sim.wait_idle()
        assert (stats.in_flight, stats.open_connections) == (0, 0)
        billed = {e.planned: (e.outcome, e.billed, e.status) for e in sim.events}
        assert billed == {
            "success": ("disconnected", True, None),
            "internal": ("disconnected", False, None),
        }


async def test_statistics_track_connections(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    """A keep-alive connection shows until the client closes it."""
    await oai.images.generate(model="gpt-image-1", prompt="x")
    assert sim.statistics().open_connections == 1
    assert sim.statistics().requests == 1
    await oai.close()
    assert (await sim.wait_idle()).open_connections == 0


async def test_payload_realistic_reaches_real_byte_sizes(make_openai: OpenAIFactory) -> None:
    """``payload="realistic"`` sends photo-sized images (megabytes at 2K)."""
    async with Simulator("healthy", time_scale=0.0001, payload="realistic") as sim:
        client = make_openai(sim)
        response = await client.images.generate(
            model="gpt-image-2", prompt="x", size="2048x1152", output_format="jpeg"
        )
        data = base64.b64decode(response.data[0].b64_json)
        assert len(data) > 1_000_000
        assert sim.events[0].bytes_sent > len(data)


async def test_describe_lists_urls_keys_and_env(sim: Simulator) -> None:
    """The CLI text has every base URL, key and the env vars to export."""
    text = describe_simulator(sim)
    for provider in ("gemini", "vertex", "openai", "openai_compatible", "flux"):
        assert sim.base_url(provider) in text
        assert sim.api_key(provider) in text
    for name in ("GEMINI_API_KEY", "GOOGLE_GEMINI_BASE_URL", "OPENAI_BASE_URL", "BFL_API_KEY"):
        assert f"export {name}=" in text
    assert "'healthy'" in text


async def test_serve_forever_runs_until_cancelled() -> None:
    """serve_forever announces itself, serves, and stops cleanly when cancelled."""
    announced: list[str] = []
    server = asyncio.ensure_future(
        serve_forever(
            scenario="healthy", port=0, seed=0, time_scale=0.001, announce=announced.append
        )
    )
    for _ in range(1000):
        if announced:
            break
        await asyncio.sleep(0.001)
    url = announced[0].split(" on ", 1)[1].split(":", 2)
    base = f"{url[0]}:{url[1]}:{url[2].split(':')[0]}"
    async with aiohttp.ClientSession() as http:
        headers = {"x-key": "sim-flux-key"}
        async with http.get(f"{base}/flux/v1/credits", headers=headers) as response:
            assert response.status == 200
    server.cancel()
    with pytest.raises(asyncio.CancelledError):
        await server


def test_public_names_are_sorted_exported_and_documented() -> None:
    """The simulator package's __all__ is sorted, complete and every name documented."""
    names = list(simulator_module.__all__)
    assert names == sorted(names, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    public = {
        name
        for name, value in vars(simulator_module).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(names) == public
    undocumented = []
    for name in names:
        obj = getattr(simulator_module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            if not inspect.getdoc(obj):
                undocumented.append(name)
            for member_name, member in vars(obj).items() if inspect.isclass(obj) else []:
                if member_name.startswith("_") or not callable(member):
                    continue
                if not inspect.getdoc(member):
                    undocumented.append(f"{name}.{member_name}")
    assert undocumented == []
    assert importlib.import_module("imagegate.testing.simulator") is simulator_module

"""Health, readiness, the model list, metrics, the body limit, the access log and a
graceful shutdown, over loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import logging

import aiohttp
import anyio
import pytest

from gateway.conftest import KEYS, MODEL, Running, gateway_config, running
from imagegate.gateway import Gateway, load_config, serve
from imagegate.state import RedisState
from imagegate.testing.simulator import Simulator
from state._redis import free_port

AUTH = {"Authorization": f"Bearer {KEYS['alice']}"}


async def test_healthz_and_readyz(gw: Running) -> None:
    """Both answer 200 on an open gateway; readyz says 503 while draining."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{gw.root}/healthz") as response:
            assert response.status == 200
        async with session.get(f"{gw.root}/readyz") as response:
            assert response.status == 200
        gw.gateway.draining = True
        async with session.get(f"{gw.root}/readyz") as response:
            assert response.status == 503
            assert (await response.json())["reasons"] == ["shutting down"]


async def test_readyz_reports_an_unreachable_state_backend(sim: Simulator) -> None:
    """With Redis down the routers work on local state, and readyz says so with 503."""
    state = RedisState(f"redis://127.0.0.1:{free_port()}/0", clock="caller")
    try:
        async with running(gateway_config(sim), clock=sim.clock, state=state) as gw:
            body = {"model": MODEL, "prompt": "a boat"}
            async with aiohttp.ClientSession() as session:
                url = f"{gw.base_url}/images/generations"
                async with session.post(url, json=body, headers=AUTH) as response:
                    assert response.status == 200  # served, on local state
                async with session.get(f"{gw.root}/readyz") as response:
                    assert response.status == 503
                    reasons = (await response.json())["reasons"]
    finally:
        await state.aclose()
    assert any("state backend unreachable" in r for r in reasons)


async def test_models_needs_a_key(gw: Running) -> None:
    """/v1/models without a key: 401 in OpenAI's shape."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.base_url}/models") as response,
    ):
        assert response.status == 401
        error = (await response.json())["error"]
    assert set(error) == {"message", "type", "param", "code"}


async def test_metrics_is_prometheus_text(gw: Running) -> None:
    """/metrics answers Prometheus' text format from prometheus_client; without it, a 404
    that says what to install."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{gw.root}/metrics") as response,
    ):
        if importlib.util.find_spec("prometheus_client") is None:
            assert response.status == 404
            assert "pip install" in (await response.json())["error"]["message"]
            return
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
        assert "python_info" in await response.text()


async def test_body_above_the_limit_is_413(sim: Simulator) -> None:
    """A body larger than max_body_bytes gets 413 in OpenAI's shape, declared or not."""
    config = gateway_config(sim, max_body_bytes=4096)
    async with running(config, clock=sim.clock) as gw:
        url = f"{gw.base_url}/images/generations"
        big = {"model": MODEL, "prompt": "x" * 10_000}
        async with aiohttp.ClientSession() as session:
            async with session.post(url, json=big, headers=AUTH) as response:
                assert response.status == 413
                assert (await response.json())["error"]["code"] == "request_too_large"

            async def chunks():  # type: ignore[no-untyped-def]
                for _ in range(10):
                    yield b"x" * 1000

            async with session.post(url, data=chunks(), headers=AUTH) as response:
                assert response.status == 413


async def test_access_log_has_no_key_and_no_prompt(
    gw: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Each request is one gateway.request record: client, status, route; never the key
    or the prompt."""
    caplog.set_level(logging.INFO, logger="imagegate.gateway")
    async with gw.client() as client:
        await client.images.generate(model=MODEL, prompt="a secret garden")
    records = [r for r in caplog.records if r.name == "imagegate.gateway"]
    assert len(records) == 1
    fields = records[0].imagegate  # type: ignore[attr-defined]
    assert fields["client"] == "alice"
    assert fields["status"] == 200
    assert fields["route"].endswith("gemini-3-pro-image")
    assert fields["size"] == "1K"
    text = caplog.text
    assert "secret garden" not in text
    assert KEYS["alice"] not in text


async def test_access_log_has_the_prompt_when_asked(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """With log_prompts = true the access log carries the prompt."""
    caplog.set_level(logging.INFO, logger="imagegate.gateway")
    config = gateway_config(sim, log_prompts=True)
    async with running(config, clock=sim.clock) as gw, gw.client() as client:
        await client.images.generate(model=MODEL, prompt="a secret garden")
    assert "secret garden" in caplog.text


async def test_shutdown_finishes_requests_in_flight() -> None:
    """Stopping the server lets a request in flight finish (within grace_s) and refuses
    new connections."""
    async with Simulator("healthy", time_scale=0.005) as sim:  # ~15 simulated s = 75 ms
        config = load_config(gateway_config(sim, grace_s=10), clock=sim.clock)
        stop = asyncio.Event()
        ports: list[int] = []
        listening = anyio.Event()

        def started(port: int) -> None:
            ports.append(port)
            listening.set()

        async with Gateway(config) as gateway, anyio.create_task_group() as group:
            group.start_soon(lambda: serve(gateway, port=0, stop=stop, started=started))
            await listening.wait()
            url = f"http://127.0.0.1:{ports[0]}/v1/images/generations"
            router = gateway.routers[MODEL]
            async with aiohttp.ClientSession() as session:
                pending = asyncio.ensure_future(
                    session.post(url, json={"model": MODEL, "prompt": "late"}, headers=AUTH)
                )
                # A statistic, not an event: polled every millisecond until the call is out.
                while router.engine.dispatcher.statistics().in_flight == 0:  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                stop.set()
                response = await pending
                assert response.status == 200
                assert (await response.json())["data"][0]["b64_json"]
                response.release()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"http://127.0.0.1:{ports[0]}/healthz"),
            ):
                pass

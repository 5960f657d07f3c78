"""The key never leaves for a foreign host: recorded answers whose URLs point at a
second replay server (another origin, standing for a host that is not the API's)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from imagegate.errors import UpstreamError
from imagegate.providers import registry

from ._build import KEY, route
from ._fixtures import all_fixtures
from ._replay import Replay
from .test_adapters import request

_BY_ID = {f.id: f for f in all_fixtures()}


@pytest.fixture
async def foreign() -> AsyncIterator[Replay]:
    """A second replay server: a host the key must never reach."""
    server = Replay()
    await server.start()
    yield server
    await server.close()


async def test_flux_refuses_a_polling_url_on_a_foreign_host(
    replay: Replay, foreign: Replay
) -> None:
    """A submit answer whose polling_url is not on the API's host is not followed: the
    key (sent with every poll) stays home."""
    fixture = _BY_ID["flux/pro_success"]
    replay.load(fixture.answers)
    replay.hosts_to = foreign.url
    foreign.load(fixture.answers[1:])
    r = route(fixture, replay.url)
    adapter = registry.create(r.provider, r.config)
    try:
        with pytest.raises(UpstreamError, match="polling_url"):
            await adapter.generate(request(fixture))
    finally:
        await adapter.aclose()
    assert [c.method for c in replay.calls] == ["POST"]
    assert foreign.calls == []


async def test_dalle_url_image_is_fetched_from_its_host_without_the_key(
    replay: Replay, foreign: Replay
) -> None:
    """An image URL on another host is downloaded there (when allowed) without the
    Authorization header the API call carried."""
    fixture = _BY_ID["openai/success_dalle3_url"]
    replay.load(fixture.answers[:1])
    replay.hosts_to = foreign.url
    foreign.load(fixture.answers[1:])
    r = route(fixture, replay.url, download_allow=["127.0.0.1"])
    adapter = registry.create(r.provider, r.config)
    try:
        response = await adapter.generate(request(fixture))
    finally:
        await adapter.aclose()
    assert (response.images[0].width, response.images[0].height) == (1024, 1024)
    (api_call,) = replay.calls
    assert KEY in api_call.carries
    (download,) = foreign.calls
    assert download.method == "GET"
    assert download.path.startswith("/private/")
    assert KEY not in download.carries
    assert "authorization" not in {h.lower() for h in download.headers}

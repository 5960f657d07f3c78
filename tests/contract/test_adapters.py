"""Every recorded answer through its adapter, built from a `Route` as users build it,
against the replay server: the image, or the imagegate error with its fields.

Where the record exposes a defect of the adapter, the test is marked xfail (strict) with
the defect in one line; the fix lifts the mark.
"""

from __future__ import annotations

import re

import pytest

from imagegate._provider import ProviderRequest
from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate.errors import ImageGateError
from imagegate.providers import registry

from ._build import KEY, check_error, check_image, check_key_stays_home, route
from ._fixtures import Fixture, all_fixtures, token_image
from ._replay import Replay

DEFECTS: dict[str, str] = {}
"""Fixture id → the adapter defect its record exposes."""

_DOCUMENTED_PATH = {
    "gemini": r"/v1(beta)?/models/[\w.-]+:generateContent",
    "vertex": r"/v1(beta1)?/projects/my-proj/locations/global/publishers/google/models/"
    r"[\w.-]+:generateContent",
    "openai": r"/v1/images/(generations|edits)|/private/.+",
    "openrouter": r"/api/v1/(chat/completions|images)",
    "flux": r"/v1/(flux[\w.-]+|get_result)|/results/.+",
}
"""The endpoints each provider documents; an adapter must call nothing else."""


def cases() -> list[object]:
    """Every fixture, xfail-marked where the record exposes a known defect."""
    params = []
    for fixture in all_fixtures():
        marks = []
        if fixture.id in DEFECTS:
            marks.append(pytest.mark.xfail(strict=True, reason=DEFECTS[fixture.id]))
        params.append(pytest.param(fixture, id=fixture.id, marks=marks))
    return params


def request(fixture: Fixture) -> ProviderRequest:
    """The request the recorded call answered (its input images, for an edit, made from
    their ``@img`` tokens)."""
    asked = fixture.data["request"]
    size: Size = asked["size"]
    images = tuple(GeneratedImage(token_image(token)) for token in asked.get("images", ()))
    return ProviderRequest(
        prompt="a lighthouse at dusk", model=fixture.model, size=size,
        aspect_ratio=asked["aspect_ratio"], timeout_s=30.0, images=images,
    )  # fmt: skip


@pytest.mark.parametrize("fixture", cases())
async def test_recorded_answer_maps_as_expected(fixture: Fixture, replay: Replay) -> None:
    """The adapter turns the recorded answer into the expected image or error, calls
    only documented paths, and sends its key nowhere else."""
    replay.load(fixture.answers)
    r = route(fixture, replay.url)
    adapter = registry.create(r.provider, r.config)
    try:
        if "image" in fixture.expect:
            check_image(fixture, await adapter.generate(request(fixture)))
        else:
            with pytest.raises(ImageGateError) as caught:
                await adapter.generate(request(fixture))
            check_error(fixture, caught.value)
    finally:
        await adapter.aclose()
    assert replay.calls, "the adapter never called the replay server"
    for call in replay.calls:
        assert re.fullmatch(_DOCUMENTED_PATH[fixture.provider], call.path), call.path
    if "paths" in fixture.expect:
        assert [c.path for c in replay.calls] == fixture.expect["paths"]
    check_key_stays_home(replay.calls, replay.answers)
    assert any(KEY in c.carries for c in replay.calls)

"""Routes to the replay server, built as users build them, and the checks of an outcome."""

from __future__ import annotations

import math
from typing import Any

from google.oauth2.credentials import Credentials

from imagegate import Route
from imagegate import errors as imagegate_errors
from imagegate._provider import ProviderResponse

from ._fixtures import Fixture
from ._replay import Call

KEY = "sk-contract-5f3c9a7e1d2b4c6a8e0f"
"""The key every route is given; tests check where it went."""

_PATH_PREFIX = {"openai": "/v1", "openrouter": "/api/v1"}


def route(fixture: Fixture, base: str, **extra: Any) -> Route:
    """A `Route` for ``fixture``'s provider and model on the replay server at ``base``
    (``extra``: more route options)."""
    options: dict[str, Any] = {**fixture.data.get("options", {}), **extra}
    url = base + _PATH_PREFIX.get(fixture.provider, "")
    if fixture.provider == "vertex":
        options.update(project="my-proj", location="global", credentials=Credentials(token=KEY))
        return Route("vertex", model=fixture.model, base_url=url, **options)
    if fixture.provider == "flux":
        options.update(poll_initial_s=0.001, poll_max_s=0.001)
    return Route(fixture.adapter, model=fixture.model, base_url=url, api_key=KEY, **options)


def check_image(fixture: Fixture, response: ProviderResponse) -> None:
    """The first image has the recorded format and size; the cost is the expected one."""
    expect = fixture.expect
    image = response.images[0]
    want = expect["image"]
    assert (image.mime_type, image.width, image.height) == (
        want["mime_type"], want["width"], want["height"],
    )  # fmt: skip
    assert image.size == expect["delivered"]
    if "cost_usd" in expect:
        assert response.cost_usd is not None
        assert math.isclose(response.cost_usd, expect["cost_usd"], rel_tol=0.05), response.cost_usd


def check_error(fixture: Fixture, error: BaseException) -> None:
    """The error is the expected imagegate class with the expected fields."""
    expect = fixture.expect
    cls = getattr(imagegate_errors, expect["error"])
    assert isinstance(error, cls), f"{type(error).__name__}: {error}"
    for name in ("status", "billing", "stage", "field"):
        if name in expect:
            assert getattr(error, name) == expect[name], (name, getattr(error, name))
    if "retry_after_s" in expect:
        got, want = getattr(error, "retry_after_s", None), expect["retry_after_s"]
        assert got == want if want is None else math.isclose(got or 0, want, rel_tol=0.01), got
    if "message_contains" in expect:
        assert expect["message_contains"] in str(error), str(error)


def check_key_stays_home(calls: list[Call], answers: list[dict[str, Any]]) -> None:
    """The key is sent in a header to the API only: never in a URL, never with an image
    download (a signed URL that needs no key)."""
    for call in calls:
        assert KEY not in call.path
        assert KEY not in call.query
        if call.served < len(answers) and "image" in answers[call.served]:
            assert KEY not in call.carries, call.path

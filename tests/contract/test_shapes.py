"""The shape checks pass on every recorded answer: they describe the record (and the
fixtures are well formed: a source, a description, an expected outcome)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from ._fixtures import Fixture, all_fixtures
from ._shapes import problems

FIXTURES = all_fixtures()


def answers_of(fixture: Fixture) -> list[dict[str, object]]:
    """The fixture's API answers (not sample downloads), with the context checks read."""
    found = []
    for index, answer in enumerate(fixture.answers):
        if "image" in answer:
            continue
        found.append(
            {
                **answer,
                "model": fixture.model,
                "stage": "submit" if index == 0 else "poll",
                "partial": fixture.data.get("partial", False),
                "platform": fixture.provider,
            }
        )
    return found


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.id for f in FIXTURES])
def test_recorded_answer_has_the_recorded_shape(fixture: Fixture) -> None:
    """Each recorded answer passes its provider's shape check."""
    for answer in answers_of(fixture):
        assert problems(fixture.provider, answer) == []


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f.id for f in FIXTURES])
def test_fixture_names_its_source(fixture: Fixture) -> None:
    """Every fixture says what it shows, where it comes from, and what it should become."""
    assert fixture.data["what"].strip()
    assert fixture.data["source"].strip()
    assert fixture.kind in ("success", "no_image", "blocked", "error")
    assert fixture.data["fidelity"] in ("verbatim", "doc-example", "assembled")
    assert ("image" in fixture.expect) != ("error" in fixture.expect)
    if any("@img:" in str(a) for a in fixture.data["answers"]):
        assert "replaced by a generated image" in fixture.data["note"]


def test_enough_cases_per_provider() -> None:
    """At least 60 cases, each provider with successes, no-image answers or blocks, and
    errors."""
    assert len(FIXTURES) >= 60
    for provider in ("gemini", "vertex", "openai", "openrouter", "flux"):
        kinds = {f.kind for f in FIXTURES if f.provider == provider}
        assert {"success", "error"} <= kinds, provider
        assert kinds & {"no_image", "blocked"}, provider


def _answer(fixture_id: str, index: int = 0) -> Any:
    """A deep copy of one API answer of a fixture, free to change."""
    fixture = next(f for f in FIXTURES if f.id == fixture_id)
    return copy.deepcopy(answers_of(fixture)[index])


def _gemini3_png() -> Any:
    answer = _answer("gemini/success_thoughts_jpeg_16x9")
    answer["body"] = json.loads(json.dumps(answer["body"]).replace("image/jpeg", "image/png"))
    return answer


def _gemini_no_usage() -> Any:
    answer = _answer("gemini/success_text_and_png")
    del answer["body"]["usageMetadata"]
    return answer


def _vertex_no_create_time() -> Any:
    answer = _answer("vertex/success_png_16x9")
    del answer["body"]["createTime"]
    return answer


def _openrouter_retry_after() -> Any:
    answer = _answer("openrouter/rate_limited_429")
    answer["headers"]["Retry-After"] = "30"
    return answer


def _gpt_image_quality_auto() -> Any:
    answer = _answer("openai/success_gpt_image_high")
    answer["body"]["quality"] = "auto"
    return answer


def _google_429_without_retry_info() -> Any:
    answer = _answer("gemini/rate_limited_per_minute")
    details = answer["body"]["error"]["details"]
    answer["body"]["error"]["details"] = [d for d in details if "RetryInfo" not in d["@type"]]
    return answer


def _flux_unknown_status() -> Any:
    answer = _answer("flux/pro_success", index=1)
    answer["body"]["status"] = "Queued"
    return answer


MUTATIONS: dict[str, tuple[str, Callable[[], Any]]] = {
    "gemini-3-pro-image answers PNG": ("gemini", _gemini3_png),
    "gemini without usageMetadata": ("gemini", _gemini_no_usage),
    "vertex without createTime": ("vertex", _vertex_no_create_time),
    "openrouter 429 with Retry-After": ("openrouter", _openrouter_retry_after),
    "gpt-image reports quality auto": ("openai", _gpt_image_quality_auto),
    "AI Studio 429 without RetryInfo": ("gemini", _google_429_without_retry_info),
    "flux status outside the spec": ("flux", _flux_unknown_status),
}
"""Changes the record never shows, each of which a shape check must catch."""


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_shape_check_catches_a_real_difference(name: str) -> None:
    """A recorded answer changed in one way the record never shows fails its check."""
    provider, build = MUTATIONS[name]
    assert problems(provider, build()) != []

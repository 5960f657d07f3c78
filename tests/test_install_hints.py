"""A missing optional integration names its extra in both install forms."""

from __future__ import annotations

import sys
from importlib.metadata import metadata
from typing import get_args

import pytest

from imagegate import GeneratedImage
from imagegate._extras import Extra, install_hint
from imagegate.bench import MissingDependency
from imagegate.bench._deps import import_optional
from imagegate.state.redis import RedisState
from imagegate.testing import make_png


def _both_forms(extra: str) -> tuple[str, str]:
    return f"pip install 'imagegate[{extra}]'", f"pip install -e '.[{extra}]'"


@pytest.mark.parametrize("extra", get_args(Extra))
def test_hint_names_the_release_and_the_checkout(extra: Extra) -> None:
    """Each hint gives the command for the package index and the one for a checkout."""
    hint = install_hint(extra)
    for form in _both_forms(extra):
        assert form in hint


def test_every_hinted_extra_is_declared() -> None:
    """The extras a hint may name are the package's own (a renamed extra breaks this)."""
    declared = set(metadata("imagegate").get_all("Provides-Extra") or [])
    assert set(get_args(Extra)) <= declared


def test_missing_bench_dependency_names_the_bench_extra() -> None:
    """A benchmark dependency that is not installed is reported with both commands."""
    with pytest.raises(MissingDependency) as caught:
        import_optional("imagegate_missing_module", purpose="--plot")
    message = str(caught.value)
    assert message.startswith("--plot needs imagegate_missing_module, which is not installed")
    for form in _both_forms("bench"):
        assert form in message


def test_missing_demo_dependency_names_the_cli_extra() -> None:
    """What the demo alone needs (rich) is reported with the cli extra, which brings it."""
    with pytest.raises(MissingDependency) as caught:
        import_optional("imagegate_missing_module", purpose="imagegate demo", extra="cli")
    for form in _both_forms("cli"):
        assert form in str(caught.value)


def test_redis_state_without_redis_names_both_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """RedisState without the redis client says how to install the redis extra."""
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ImportError) as caught:
        RedisState()
    assert str(caught.value).startswith("RedisState needs the redis client")
    for form in _both_forms("redis"):
        assert form in str(caught.value)


def test_to_pil_without_pillow_names_both_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    """GeneratedImage.to_pil() without Pillow says how to install the pillow extra."""
    image = GeneratedImage(make_png(64, 64))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError) as caught:
        image.to_pil()
    for form in _both_forms("pillow"):
        assert form in str(caught.value)

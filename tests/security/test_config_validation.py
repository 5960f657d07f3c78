"""Configuration that cannot work is refused when it is loaded, not on the first request."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagegate import HedgePolicy, Router
from imagegate.errors import ConfigurationError

_ROUTE = {"provider": "gemini", "model": "gemini-3-pro-image", "api_key_env": "GEMINI_API_KEY"}


@pytest.mark.parametrize("size", ["8K", "4k", "", "1024x1024"])
def test_hedge_size_outside_the_tiers_is_refused_at_load(size: str) -> None:
    """[hedge] size must be a tier: the error names the section and the key."""
    with pytest.raises(ConfigurationError, match=r"hedge\.size") as caught:
        Router.from_config({"routes": [_ROUTE], "hedge": {"size": size}})
    assert "1K, 2K, 4K" in str(caught.value)


def test_hedge_size_in_a_toml_file_is_refused_at_load(tmp_path: Path) -> None:
    """The same check applies to a TOML file."""
    path = tmp_path / "imagegate.toml"
    path.write_text(
        '[hedge]\nsize = "8K"\n\n[[routes]]\nprovider = "gemini"\nmodel = "gemini-3-pro-image"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=r"hedge\.size"):
        Router.from_config(path)


def test_hedge_policy_refuses_a_size_outside_the_tiers() -> None:
    """HedgePolicy itself refuses a size no request could use."""
    with pytest.raises(ValueError, match="size"):
        HedgePolicy(size="8K")  # type: ignore[arg-type]

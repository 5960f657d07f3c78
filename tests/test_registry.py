"""The plugin registry: real installed distributions, broken plugins, IMAGEGATE_PLUGINS."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from imagegate import Route, Router
from imagegate.errors import ConfigurationError
from imagegate.providers import PLUGINS_ENV_VAR, ProviderConfig, Registry

EXAMPLE = Path(__file__).parents[1] / "examples" / "imagegate-plugin-example"


@pytest.fixture(scope="session")
def example_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin built and installed for real (pip, hatchling) into a directory."""
    target = tmp_path_factory.mktemp("example-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(EXAMPLE)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert list(target.glob("imagegate_plugin_example-*.dist-info"))
    return target


@pytest.fixture
def broken_site(tmp_path: Path) -> Path:
    """An installed distribution whose plugin module fails to import."""
    dist = tmp_path / "imagegate_broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: imagegate-broken-plugin\nVersion: 1.0\n"
    )
    (dist / "entry_points.txt").write_text("[imagegate.providers]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text("raise ImportError('needs libfoo 9')\n")
    return tmp_path


def test_builtins_are_listed_with_their_distribution(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built-ins come through imagegate's own entry point, with its distribution and version."""
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)
    registry = Registry()
    fake = registry.get("fake")
    assert (fake.distribution, fake.plugin) == ("imagegate", "imagegate")
    assert fake.version
    assert registry.errors() == []


async def test_installed_example_plugin_is_listed_and_usable(
    example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed plugin distribution is discovered and its provider serves a Router."""
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)
    registry = Registry()
    info = registry.get("swatch")
    assert (info.distribution, info.version, info.plugin) == (
        "imagegate-plugin-example",
        "0.1.0",
        "example",
    )
    async with Router([Route("swatch", model="flat")], registry=registry) as router:
        result = await router.generate("teal", size="2K", aspect_ratio="16:9")
    assert result.route == "swatch/flat"
    assert (result.image.width, result.image.height) == (2720, 1536)
    assert result.size == "2K"


async def test_example_plugin_reports_a_block(
    example_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The example's options reach the provider and its ContentBlocked stops the request."""
    monkeypatch.syspath_prepend(str(example_site))
    registry = Registry()
    route = Route("swatch", model="flat", blocked_words=["forbidden"])
    async with Router([route], registry=registry) as router:
        with pytest.raises(Exception, match="refused by the swatch filter"):
            await router.generate("a forbidden swatch")


def test_broken_plugin_is_named_and_others_still_load(
    example_site: Path, broken_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plugin that fails to import is reported by name; built-ins and other plugins load."""
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.syspath_prepend(str(broken_site))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)
    registry = Registry()
    names = [info.name for info in registry.available()]
    assert "fake" in names
    assert "swatch" in names
    [error] = registry.errors()
    assert (error.plugin, error.distribution) == ("broken", "imagegate-broken-plugin")
    assert "needs libfoo 9" in str(error)
    with pytest.raises(ConfigurationError, match=r"plugin 'broken'.*needs libfoo 9"):
        registry.get("broken")


def test_empty_plugin_setting_loads_builtins_only(
    example_site: Path, broken_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """IMAGEGATE_PLUGINS="" loads only the built-ins."""
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.syspath_prepend(str(broken_site))
    monkeypatch.setenv(PLUGINS_ENV_VAR, "")
    registry = Registry()
    assert {info.distribution for info in registry.available()} == {"imagegate"}
    assert registry.errors() == []


def test_plugin_setting_selects_by_name_and_reports_unknown(
    example_site: Path, broken_site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A comma list loads only the named plugins and reports names that are not installed."""
    monkeypatch.syspath_prepend(str(example_site))
    monkeypatch.syspath_prepend(str(broken_site))
    monkeypatch.setenv(PLUGINS_ENV_VAR, "imagegate-plugin-example, not-installed")
    registry = Registry()
    assert "swatch" in [info.name for info in registry.available()]
    [error] = registry.errors()
    assert error.plugin == "not-installed"
    assert "not installed" in str(error)


def test_loading_happens_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Entry points are read on first use only; reload() reads them again."""
    counter = tmp_path / "count_plugin.py"
    counter.write_text(
        textwrap.dedent(
            """
            CALLS = []
            def register_providers(register):
                CALLS.append(1)
                register("counted", lambda config: None)
            """
        )
    )
    dist = tmp_path / "count_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: count-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[imagegate.providers]\ncount = count_plugin\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)
    registry = Registry()
    registry.available()
    registry.get("counted")
    import count_plugin

    assert count_plugin.CALLS == [1]
    registry.reload()
    assert count_plugin.CALLS == [1, 1]


def test_duplicate_names_are_refused() -> None:
    """Two providers cannot share a name; the first stays."""
    registry = Registry()
    with pytest.raises(ConfigurationError, match="already registered"):
        registry.register("fake", lambda config: None)  # type: ignore[arg-type,return-value]


def test_missing_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    """ProviderConfig.resolve_key says which variable to set."""
    monkeypatch.delenv("ACME_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="set ACME_KEY") as info:
        ProviderConfig().resolve_key("ACME_KEY", provider="acme")
    assert info.value.env_var == "ACME_KEY"
    monkeypatch.setenv("ACME_KEY", "k-123")
    assert ProviderConfig().resolve_key("ACME_KEY", provider="acme").get_secret_value() == "k-123"
    assert "k-123" not in repr(
        ProviderConfig(api_key=ProviderConfig().resolve_key("ACME_KEY", provider="a"))
    )

"""A plugin cannot take over a built-in provider name (and the keys routes give it) unless
the user names it as the override; the other built-ins always load."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from aiohttp import web

from _logcapture import captured_events
from imagegate import Route, Router
from imagegate.providers import OVERRIDES_ENV_VAR, PLUGINS_ENV_VAR, Registry
from imagegate.testing import make_png

from ._chosen import Hostile, Serve, start_hostile


@pytest.fixture
async def hostile(serve: Serve) -> Hostile:
    """A hostile upstream on 127.0.0.1 answering with the handler the test sets."""
    return await start_hostile(serve)


KEY = "sk-user-openai-key-12345"
BUILTINS = {"fake", "gemini", "vertex", "openai", "openai_compatible", "flux"}
PLUGIN = "acme"  # its entry-point name sorts before imagegate's own
DISTRIBUTION = "imagegate-acme-takeover"

PLUGIN_MODULE = '''
"""Registers "openai" to receive the keys routes give it, plus a provider of its own."""

CAPTURED = []


def _openai(config):
    CAPTURED.append(config.api_key.get_secret_value() if config.api_key else None)
    from imagegate.testing import FakeProvider

    return FakeProvider("openai")


def _acme(config):
    from imagegate.testing import FakeProvider

    return FakeProvider("acme_images")


def register_providers(register):
    register("openai", _openai, description="OpenAI Images (really)")
    register("acme_images", _acme, description="Acme images")
'''

PYPROJECT = f"""
[build-system]
requires = ["hatchling>=1.25"]
build-backend = "hatchling.build"

[project]
name = "{DISTRIBUTION}"
version = "6.6.6"
requires-python = ">=3.11"

[project.entry-points."imagegate.providers"]
{PLUGIN} = "acme_takeover"

[tool.hatch.build.targets.wheel]
packages = ["src/acme_takeover"]
"""


@pytest.fixture(scope="session")
def takeover_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plugin registering "openai", built and installed for real into a directory."""
    source = tmp_path_factory.mktemp("takeover-src")
    (source / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    package = source / "src" / "acme_takeover"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    target = tmp_path_factory.mktemp("takeover-site")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(source)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    assert list(target.glob("imagegate_acme_takeover-*.dist-info"))
    return target


@pytest.fixture
def takeover(takeover_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The takeover plugin on sys.path, with no plugin selection or override set."""
    monkeypatch.syspath_prepend(str(takeover_site))
    monkeypatch.delenv(PLUGINS_ENV_VAR, raising=False)
    monkeypatch.delenv(OVERRIDES_ENV_VAR, raising=False)
    return takeover_site


def test_builtin_name_is_kept_and_every_builtin_loads(takeover: Path) -> None:
    """ "openai" stays imagegate's; flux and openai_compatible are there; the plugin's own loads."""
    with captured_events() as logs:
        registry = Registry()
        infos = {info.name: info for info in registry.available()}
    assert set(infos) >= BUILTINS | {"acme_images"}
    assert {infos[name].distribution for name in BUILTINS} == {"imagegate"}
    assert infos["acme_images"].distribution == DISTRIBUTION
    [clash] = registry.errors()
    assert (clash.plugin, clash.distribution, clash.provider) == (PLUGIN, DISTRIBUTION, "openai")
    assert f"{OVERRIDES_ENV_VAR}=openai={PLUGIN}" in str(clash)
    [warning] = [e for e in logs if e["event"] == "plugin.name_clash"]
    assert (warning["log_level"], warning["plugin"], warning["provider"]) == (
        "warning",
        PLUGIN,
        "openai",
    )


async def test_openai_route_key_goes_to_the_builtin_adapter(
    takeover: Path, hostile: Hostile
) -> None:
    """The key of an "openai" route reaches the real OpenAI adapter, never the plugin."""
    import acme_takeover  # type: ignore[import-not-found]

    seen: list[str] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(request.headers.get("Authorization", ""))
        b64 = base64.b64encode(make_png(1024, 1024)).decode()
        return web.json_response({"created": 1, "data": [{"b64_json": b64}]})

    hostile.handler = handler
    route = Route("openai", model="gpt-image-1.5", base_url=f"{hostile.url}/v1", api_key=KEY)
    async with Router([route], registry=Registry()) as router:
        result = await router.generate("a cat")
    assert result.provider == "openai"
    assert seen == [f"Bearer {KEY}"]
    assert hostile.requests == ["/v1/images/generations"]
    assert acme_takeover.CAPTURED == []


def test_providers_command_names_the_clash(takeover: Path) -> None:
    """`imagegate providers` lists every built-in and prints the clash by plugin name."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(takeover), *sys.path])}
    env.pop(PLUGINS_ENV_VAR, None)
    env.pop(OVERRIDES_ENV_VAR, None)
    done = subprocess.run(
        [sys.executable, "-m", "imagegate.cli", "providers"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    listed = set(re.split(r"[\s│┃]+", done.stdout))  # words of the table, whatever its frame
    assert BUILTINS | {"acme_images"} <= listed
    assert f"plugin '{PLUGIN}' ({DISTRIBUTION}) may not register 'openai'" in done.stderr


@pytest.mark.parametrize("named", [PLUGIN, DISTRIBUTION])
def test_override_by_env_var_names_the_plugin(
    takeover: Path, monkeypatch: pytest.MonkeyPatch, named: str
) -> None:
    """IMAGEGATE_PROVIDER_OVERRIDES=openai=<plugin> lets that plugin replace "openai"."""
    monkeypatch.setenv(OVERRIDES_ENV_VAR, f"openai={named}")
    with captured_events() as logs:
        registry = Registry()
        names = {info.name for info in registry.available()}
    assert registry.get("openai").distribution == DISTRIBUTION
    assert names >= BUILTINS | {"acme_images"}
    assert registry.errors() == []
    assert [e["provider"] for e in logs if e["event"] == "plugin.override"] == ["openai"]


def test_override_by_registry_argument(takeover: Path) -> None:
    """Registry(overrides={"openai": plugin}) opts in the same way, without the environment."""
    registry = Registry(overrides={"openai": PLUGIN})
    assert registry.get("openai").plugin == PLUGIN
    assert registry.get("flux").distribution == "imagegate"


def test_override_for_another_plugin_does_not_let_this_one_in(
    takeover: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An override naming another plugin, or another built-in, keeps "openai" imagegate's."""
    monkeypatch.setenv(OVERRIDES_ENV_VAR, f"openai=someone-else,flux={PLUGIN}")
    registry = Registry()
    assert registry.get("openai").distribution == "imagegate"
    assert registry.get("flux").distribution == "imagegate"
    assert [e.provider for e in registry.errors()] == ["openai"]

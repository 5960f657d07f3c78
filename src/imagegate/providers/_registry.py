"""The provider registry, filled from the ``imagegate.providers`` entry-point group.

Each entry point names a module (or ``module:function``) whose ``register_providers``
function is called with a ``register`` callback::

    def register_providers(register):
        register("acme", AcmeProvider, description="Acme Images")

Built-ins register through the same path (imagegate's own entry point), always first, and
their names are reserved: a plugin registering ``"openai"`` would otherwise receive every
OpenAI key given to a route. Loading happens once, on first use. ``IMAGEGATE_PLUGINS``
controls which third-party plugins load: unset means all, ``""`` means built-ins only,
``"a,b"`` means only the plugins named (entry-point or distribution names). A plugin that
fails to import or to register is recorded with its name and error, and the others still
load. A plugin registering a name already taken (a built-in's, or an earlier plugin's) is
refused for that name only, recorded and logged; its other providers still load.
``IMAGEGATE_PROVIDER_OVERRIDES="openai=acme"`` (or ``Registry(overrides={"openai": "acme"})``)
lets the plugin named ``acme`` replace the built-in ``openai``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import EntryPoint, entry_points
from typing import Any, Final, Protocol

from pydantic import SecretStr

from imagegate._logging import get_logger
from imagegate._provider import Provider
from imagegate.errors import ConfigurationError
from imagegate.resilience.clock import Clock

__all__ = [
    "ENTRY_POINT_GROUP",
    "OVERRIDES_ENV_VAR",
    "PLUGINS_ENV_VAR",
    "PluginLoadError",
    "ProviderConfig",
    "ProviderFactory",
    "ProviderInfo",
    "RegisterFunc",
    "Registry",
]

ENTRY_POINT_GROUP: Final = "imagegate.providers"
PLUGINS_ENV_VAR: Final = "IMAGEGATE_PLUGINS"
OVERRIDES_ENV_VAR: Final = "IMAGEGATE_PROVIDER_OVERRIDES"
_BUILTIN_MODULE: Final = "imagegate.providers._builtins"


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """How a route wants its provider built: credentials, endpoint and options.

    Attributes:
        api_key: The key given to the route, if any (kept secret in ``repr``).
        api_key_env: The env var to read the key from, overriding the provider's default.
        base_url: The endpoint, overriding the provider's default.
        options: Every other route option, for the provider to use or ignore.
        clock: The router's clock; providers that wait (Flux polling, the fake's
            latency) sleep on it so simulated and fake time apply to them too.
    """

    api_key: SecretStr | None = None
    api_key_env: str | None = None
    base_url: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    clock: Clock | None = None

    def resolve_key(self, *default_env_vars: str, provider: str) -> SecretStr:
        """The key: the argument, else ``api_key_env``, else the first default env var set.

        Raises:
            ConfigurationError: naming the env var(s) to set when no key is found.
        """
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key
        names = (self.api_key_env,) if self.api_key_env else default_env_vars
        for name in names:
            value = os.environ.get(name, "")
            if value:
                return SecretStr(value)
        wanted = " or ".join(names) if names else "an api_key argument"
        raise ConfigurationError(
            f"{provider}: no API key: set {wanted} or pass api_key=",
            env_var=names[0] if names else None,
        )


ProviderFactory = Callable[[ProviderConfig], Provider]
"""Builds a provider instance from a route's `ProviderConfig`."""


class RegisterFunc(Protocol):
    """The callback a plugin's ``register_providers`` receives."""

    def __call__(self, name: str, factory: ProviderFactory, *, description: str = "") -> None:
        """Register ``factory`` under ``name``."""
        ...


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """One registered provider.

    Attributes:
        name: The name routes use (``Route("gemini", ...)``).
        factory: Builds an instance from a `ProviderConfig`.
        plugin: The entry point (or built-in module) that registered it.
        distribution: The installed distribution that ships it.
        version: That distribution's version.
        description: One line for ``imagegate providers``.
    """

    name: str
    factory: ProviderFactory
    plugin: str
    distribution: str
    version: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class PluginLoadError:
    """A plugin that could not be loaded, or a provider name it was refused, and why.

    Attributes:
        plugin: The entry-point name of the plugin.
        distribution: The distribution that ships it.
        error: What went wrong.
        provider: The provider name it was refused (a name clash); None when the whole
            plugin failed to load.
    """

    plugin: str
    distribution: str
    error: str
    provider: str | None = None

    def __str__(self) -> str:
        if self.provider is not None:
            return (
                f"plugin {self.plugin!r} ({self.distribution}) may not register "
                f"{self.provider!r}: {self.error}"
            )
        return f"plugin {self.plugin!r} ({self.distribution}) failed to load: {self.error}"


class Registry:
    """Providers by name, loaded lazily from entry points the first time they are needed.

    Args:
        overrides: Built-in provider names a plugin may replace, each mapped to that
            plugin's entry-point or distribution name (``{"openai": "acme"}``). None
            reads ``IMAGEGATE_PROVIDER_OVERRIDES`` (``"openai=acme,flux=other"``) at load.
    """

    __slots__ = ("_builtins", "_errors", "_loaded", "_lock", "_overrides", "_providers")

    def __init__(self, *, overrides: Mapping[str, str] | None = None) -> None:
        self._providers: dict[str, ProviderInfo] = {}
        self._errors: list[PluginLoadError] = []
        self._builtins: dict[str, ProviderInfo] = {}
        self._overrides = dict(overrides) if overrides is not None else None
        self._loaded = False
        self._lock = threading.RLock()

    def register(
        self,
        name: str,
        factory: ProviderFactory,
        *,
        description: str = "",
    ) -> None:
        """Add a provider at run time, next to the loaded plugins.

        Raises:
            ConfigurationError: if ``name`` is taken or ``factory`` is not callable.
        """
        self.load()
        self._add(name, factory, description, plugin="<runtime>", distribution="<runtime>")

    def _add(
        self,
        name: str,
        factory: ProviderFactory,
        description: str,
        *,
        plugin: str,
        distribution: str,
        version: str = "",
    ) -> None:
        if not name or not name.replace("_", "").replace("-", "").isalnum():
            raise ConfigurationError(f"provider name {name!r} must be a non-empty identifier")
        if not callable(factory):
            raise ConfigurationError(f"provider {name!r}: factory must be callable")
        with self._lock:
            existing = self._providers.get(name)
            if existing is not None:
                raise ConfigurationError(
                    f"provider {name!r} from {plugin!r} is already registered "
                    f"by {existing.plugin!r}"
                )
            self._providers[name] = ProviderInfo(
                name, factory, plugin, distribution, version, description
            )

    def _add_from_plugin(
        self,
        name: str,
        factory: ProviderFactory,
        description: str,
        *,
        plugin: str,
        distribution: str,
        version: str,
        overrides: Mapping[str, str],
    ) -> None:
        """Register for a third-party plugin: a taken name is refused (not raised) unless
        the user named this plugin as the override of that built-in."""
        log = get_logger("imagegate.providers")
        with self._lock:
            existing = self._providers.get(name)
            if existing is None:
                self._add(
                    name, factory, description,
                    plugin=plugin, distribution=distribution, version=version,
                )  # fmt: skip
                return
            builtin = self._builtins.get(name) is existing
            if builtin and overrides.get(name) in (plugin, distribution):
                self._providers.pop(name)
                self._add(
                    name, factory, description,
                    plugin=plugin, distribution=distribution, version=version,
                )  # fmt: skip
                log.warning(
                    "plugin.override", provider=name, plugin=plugin, distribution=distribution
                )
                return
            if builtin:
                reason = (
                    f"{name!r} is a built-in provider name; to let this plugin replace it "
                    f"set {OVERRIDES_ENV_VAR}={name}={plugin}"
                )
            else:
                reason = f"{name!r} is already registered by plugin {existing.plugin!r}"
            self._errors.append(PluginLoadError(plugin, distribution, reason, provider=name))
        log.warning(
            "plugin.name_clash", provider=name, plugin=plugin, distribution=distribution,
            kept=existing.plugin,
        )  # fmt: skip

    def get(self, name: str) -> ProviderInfo:
        """The provider called ``name``.

        Raises:
            ConfigurationError: naming the known providers and any plugin that failed.
        """
        self.load()
        info = self._providers.get(name)
        if info is None:
            known = ", ".join(sorted(self._providers)) or "none"
            failed = "".join(f"; {err}" for err in self._errors)
            raise ConfigurationError(f"unknown provider {name!r} (known: {known}){failed}")
        return info

    def create(self, name: str, config: ProviderConfig) -> Provider:
        """Build an instance of provider ``name``."""
        return self.get(name).factory(config)

    def available(self) -> list[ProviderInfo]:
        """Every loaded provider, sorted by name."""
        self.load()
        return [self._providers[n] for n in sorted(self._providers)]

    def errors(self) -> list[PluginLoadError]:
        """Plugins that failed to load."""
        self.load()
        return list(self._errors)

    def load(self) -> None:
        """Load built-ins and the selected plugins, once."""
        if self._loaded:
            return
        with self._lock:
            if self._loaded:
                return
            self._load_all()
            self._loaded = True

    def reload(self) -> None:
        """Forget everything and load again (after installing a plugin, or in tests)."""
        with self._lock:
            self._providers.clear()
            self._errors.clear()
            self._loaded = False
        self.load()

    def _load_all(self) -> None:
        wanted = _wanted_plugins()
        overrides = self._overrides if self._overrides is not None else self._env_overrides()
        found = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
        # Built-ins first, whatever the entry-point names sort as, so their names are taken
        # before any plugin registers.
        self._load_builtins(found)
        self._builtins = dict(self._providers)
        self._load_plugins(found, wanted, overrides)

    def _load_builtins(self, found: list[EntryPoint]) -> None:
        """Load imagegate's own entry point (by module when no metadata is installed)."""
        builtin = next((ep for ep in found if ep.module == _BUILTIN_MODULE), None)
        if builtin is not None:
            self._load_one(builtin.name, *_dist_of(builtin), builtin.load, overrides_in_force=None)
            return
        # Running from a source tree without installed metadata: same path, by module.
        from imagegate import __version__

        self._load_one(
            "imagegate", "imagegate", __version__, lambda: import_module(_BUILTIN_MODULE),
            overrides_in_force=None,
        )  # fmt: skip

    def _load_plugins(
        self, found: list[EntryPoint], wanted: set[str] | None, overrides: Mapping[str, str]
    ) -> None:
        """Load the third-party entry points ``wanted`` names (all when None), recording
        a wanted one that is not installed."""
        matched: set[str] = set()
        for ep in found:
            if ep.module == _BUILTIN_MODULE:
                continue  # loaded above (or the same package seen twice on sys.path)
            dist_name, version = _dist_of(ep)
            if wanted is not None:
                hit = {ep.name, dist_name} & wanted
                if not hit:
                    continue
                matched |= hit
            self._load_one(ep.name, dist_name, version, ep.load, overrides_in_force=overrides)
        for missing in sorted((wanted or set()) - matched):
            self._errors.append(
                PluginLoadError(missing, "?", f"named in {PLUGINS_ENV_VAR} but not installed")
            )

    def _env_overrides(self) -> dict[str, str]:
        overrides: dict[str, str] = {}
        for item in os.environ.get(OVERRIDES_ENV_VAR, "").split(","):
            name, sep, plugin = (part.strip() for part in item.partition("="))
            if name and sep and plugin:
                overrides[name] = plugin
            elif item.strip():
                self._errors.append(
                    PluginLoadError(
                        "?", "?", f"{OVERRIDES_ENV_VAR} entry {item.strip()!r} is not NAME=PLUGIN"
                    )
                )
        return overrides

    def _load_one(
        self,
        plugin: str,
        distribution: str,
        version: str,
        loader: Callable[[], object],
        *,
        overrides_in_force: Mapping[str, str] | None,
    ) -> None:
        """Call one entry point's hook: a built-in one when ``overrides_in_force`` is None,
        else a third-party plugin's, under those overrides."""

        def register(name: str, factory: ProviderFactory, *, description: str = "") -> None:
            if overrides_in_force is None:
                self._add(
                    name, factory, description,
                    plugin=plugin, distribution=distribution, version=version,
                )  # fmt: skip
            else:
                self._add_from_plugin(
                    name, factory, description,
                    plugin=plugin, distribution=distribution, version=version,
                    overrides=overrides_in_force,
                )  # fmt: skip

        try:
            target = loader()
            hook = getattr(target, "register_providers", target)
            if not callable(hook):
                raise TypeError("entry point has no callable register_providers")
            hook(register)
        except Exception as exc:  # a broken plugin must not break the others
            error = PluginLoadError(plugin, distribution, f"{type(exc).__name__}: {exc}")
            self._errors.append(error)
            get_logger("imagegate.providers").warning(
                "plugin.failed", plugin=plugin, distribution=distribution, error=error.error
            )


def _dist_of(ep: EntryPoint) -> tuple[str, str]:
    dist = ep.dist
    if dist is None:
        return "?", ""
    return dist.metadata["Name"] or dist.name, dist.version


def _wanted_plugins() -> set[str] | None:
    """The plugins ``IMAGEGATE_PLUGINS`` names; None (unset) means all."""
    setting = os.environ.get(PLUGINS_ENV_VAR)
    return None if setting is None else {p.strip() for p in setting.split(",") if p.strip()}

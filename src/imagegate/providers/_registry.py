"""The provider registry, filled from the ``imagegate.providers`` entry-point group.

Each entry point names a module (or ``module:function``) whose ``register_providers``
function is called with a ``register`` callback::

    def register_providers(register):
        register("acme", AcmeProvider, description="Acme Images")

Built-ins register through the same path (imagegate's own entry point). Loading happens
once, on first use. ``IMAGEGATE_PLUGINS`` controls which third-party plugins load: unset
means all, ``""`` means built-ins only, ``"a,b"`` means only the plugins named (entry-point
or distribution names). A plugin that fails to import or to register is recorded with its
name and error, and the others still load.
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
    """A plugin that could not be loaded, and why."""

    plugin: str
    distribution: str
    error: str

    def __str__(self) -> str:
        return f"plugin {self.plugin!r} ({self.distribution}) failed to load: {self.error}"


class Registry:
    """Providers by name, loaded lazily from entry points the first time they are needed."""

    __slots__ = ("_errors", "_loaded", "_lock", "_providers")

    def __init__(self) -> None:
        self._providers: dict[str, ProviderInfo] = {}
        self._errors: list[PluginLoadError] = []
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

    def unregister(self, name: str) -> None:
        """Remove a provider registered by hand (mostly for tests)."""
        with self._lock:
            self._providers.pop(name, None)

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
        setting = os.environ.get(PLUGINS_ENV_VAR)
        wanted = None if setting is None else {p.strip() for p in setting.split(",") if p.strip()}
        builtin_seen = False
        matched: set[str] = set()
        for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist_name, version = _dist_of(ep)
            if ep.module == _BUILTIN_MODULE:
                if builtin_seen:
                    continue  # the same package seen twice on sys.path
                builtin_seen = True
            elif wanted is not None:
                hit = {ep.name, dist_name} & wanted
                if not hit:
                    continue
                matched |= hit
            self._load_one(ep.name, dist_name, version, ep.load)
        if not builtin_seen:
            # Running from a source tree without installed metadata: same path, by module.
            from imagegate import __version__

            self._load_one(
                "imagegate", "imagegate", __version__, lambda: import_module(_BUILTIN_MODULE)
            )
        for missing in sorted((wanted or set()) - matched):
            self._errors.append(
                PluginLoadError(missing, "?", f"named in {PLUGINS_ENV_VAR} but not installed")
            )

    def _load_one(
        self, plugin: str, distribution: str, version: str, loader: Callable[[], object]
    ) -> None:
        def register(name: str, factory: ProviderFactory, *, description: str = "") -> None:
            self._add(
                name,
                factory,
                description,
                plugin=plugin,
                distribution=distribution,
                version=version,
            )

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

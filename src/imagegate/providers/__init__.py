"""Provider adapters and the plugin registry.

``imagegate.providers.registry`` holds every provider, loaded lazily from the
``imagegate.providers`` entry-point group (see docs/plugins.md). The module-level
functions below use that shared registry.
"""

from __future__ import annotations

from imagegate.providers._registry import (
    ENTRY_POINT_GROUP,
    OVERRIDES_ENV_VAR,
    PLUGINS_ENV_VAR,
    PluginLoadError,
    ProviderConfig,
    ProviderFactory,
    ProviderInfo,
    RegisterFunc,
    Registry,
)

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
    "available",
    "get",
    "load_errors",
    "register",
    "registry",
]

registry = Registry()
"""The process-wide provider registry."""

available = registry.available
get = registry.get
register = registry.register
load_errors = registry.errors

"""The model catalogue: the image models imagegate knows, their tiers, prices and
lifecycle, as a data file users can override without a release (docs/catalogue.md).

``imagegate/providers/catalogue.toml`` ships with the package; ``IMAGEGATE_CATALOGUE``
names a file of the same schema whose entries replace or add to the shipped ones, and
`use_catalogue` does the same from code (it wins over the variable). A router judges
lifecycles on ``Router(today=...)``, else ``IMAGEGATE_TODAY``, else the UTC date: a route
on a deprecated model warns once (`ModelDeprecatedWarning` and a ``model.deprecated`` log
event), one on a shut-down model fails to open with a ``ConfigurationError``.
"""

from __future__ import annotations

from imagegate.providers._catalogue import (
    CATALOGUE_ENV_VAR,
    Catalogue,
    Entry,
    Lifecycle,
    Source,
    TokenRates,
    active_catalogue,
    load_catalogue,
    shipped_catalogue,
    use_catalogue,
)
from imagegate.providers._lifecycle import (
    TODAY_ENV_VAR,
    ModelDeprecatedWarning,
    check_lifecycle,
    resolve_today,
)

__all__ = [
    "CATALOGUE_ENV_VAR",
    "TODAY_ENV_VAR",
    "Catalogue",
    "Entry",
    "Lifecycle",
    "ModelDeprecatedWarning",
    "Source",
    "TokenRates",
    "active_catalogue",
    "check_lifecycle",
    "load_catalogue",
    "resolve_today",
    "shipped_catalogue",
    "use_catalogue",
]

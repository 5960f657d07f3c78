"""The hint an error gives when an optional integration is not installed.

A missing extra is named in both forms a user may need: the release from the package
index, and an editable install from a checkout of the repository.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["Extra", "install_hint"]

Extra = Literal["bench", "cli", "otel", "pillow", "redis"]
"""The optional extras a user installs for an integration (``dev`` is for contributors)."""


def install_hint(extra: Extra) -> str:
    """The commands that install ``extra``, for an error message.

    >>> install_hint("redis")
    "pip install 'imagegate[redis]' (from a checkout: pip install -e '.[redis]')"
    """
    return f"pip install 'imagegate[{extra}]' (from a checkout: pip install -e '.[{extra}]')"

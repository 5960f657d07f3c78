"""The httpx flavours: openai 3.x sits on ``httpx2`` (pydantic's fork), google-genai on
``httpx``; both are installed side by side (LiteLLM pulls ``httpx`` in too).

`TRANSPORT_MODULES` lists every flavour that can be imported, so transport errors are
recognised whichever library raised them; `sdk_httpx` is the one the installed openai SDK
uses (imported on demand, so adapters that do not use openai never import it).
"""

from __future__ import annotations

import functools
import importlib
from types import ModuleType
from typing import Final

__all__ = ["TRANSPORT_MODULES", "sdk_httpx"]


def _available() -> tuple[ModuleType, ...]:
    found = []
    for name in ("httpx2", "httpx"):
        try:
            found.append(importlib.import_module(name))
        except ImportError:
            continue
    return tuple(found)


TRANSPORT_MODULES: Final[tuple[ModuleType, ...]] = _available()
"""Every importable httpx flavour (google-genai's sync client uses ``httpx2`` too)."""


@functools.cache
def sdk_httpx() -> ModuleType:
    """The HTTP library of the installed openai SDK (``httpx2`` or ``httpx``)."""
    import openai._base_client as client  # where the SDK imports its HTTP library

    module = getattr(client, "httpx2", None) or getattr(client, "httpx", None)
    if not isinstance(module, ModuleType):  # pragma: no cover - a future SDK layout
        raise ImportError("cannot tell which httpx flavour the openai SDK uses")
    return module

"""Optional dependencies of the benchmark, imported only when a measurement needs them.

LiteLLM, matplotlib, rich and psutil come with the ``bench`` extra (rich alone, for the
demo, with ``cli``); a missing one raises `MissingDependency` with the install commands
instead of a bare ``ImportError``.
"""

from __future__ import annotations

import importlib
import logging
import os
from types import ModuleType

from imagegate._extras import Extra, install_hint

__all__ = ["MissingDependency", "import_optional", "quiet_litellm"]


class MissingDependency(ImportError):
    """An optional benchmark dependency is not installed; the message says how to get it."""


def import_optional(module: str, *, purpose: str, extra: Extra = "bench") -> ModuleType:
    """Import ``module`` or raise `MissingDependency` naming ``purpose`` and the extra.

    Args:
        module: The module to import (``"matplotlib.pyplot"``).
        purpose: What needs it, for the message (``"--plot"``).
        extra: The extra that installs it, for the message.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        raise MissingDependency(
            f"{purpose} needs {top}, which is not installed: {install_hint(extra)}"
        ) from exc


def quiet_litellm() -> ModuleType:
    """Import LiteLLM offline and silent.

    Without ``LITELLM_LOCAL_MODEL_COST_MAP`` LiteLLM downloads its price list at import
    time and, offline, retries with real sleeps; its loggers and telemetry are turned down
    so that the benchmark's own output stays readable.
    """
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    litellm = import_optional("litellm", purpose="the litellm contender")
    litellm.suppress_debug_info = True  # type: ignore[attr-defined]
    litellm.telemetry = False  # type: ignore[attr-defined]
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    return litellm

"""Structured logging for imagegate: structlog events that never carry a secret.

imagegate is a library, so it does not configure structlog globally. Each logger it
creates puts `imagegate._redact.redact_event` in front of whatever processors the
application configured, and filters by ``IMAGEGATE_LOG_LEVEL`` (default ``warning``;
``debug`` shows every ``attempt.start``/``attempt.end``).
"""

from __future__ import annotations

import logging
import os
from typing import Any, Final

import structlog

from imagegate._redact import redact_event

__all__ = ["LOG_LEVEL_ENV_VAR", "get_logger"]

LOG_LEVEL_ENV_VAR: Final = "IMAGEGATE_LOG_LEVEL"


def _level() -> int:
    name = os.environ.get(LOG_LEVEL_ENV_VAR, "warning").upper()
    level = logging.getLevelName(name)
    return level if isinstance(level, int) else logging.WARNING


def get_logger(name: str = "imagegate", **initial_values: Any) -> Any:
    """A structlog logger whose first processor redacts secrets.

    The application's structlog configuration (processors, logger factory) is read when
    the logger is created, so create loggers after configuring structlog.
    """
    config = structlog.get_config()
    return structlog.wrap_logger(
        None,
        processors=[redact_event, *config["processors"]],
        wrapper_class=structlog.make_filtering_bound_logger(_level()),
        logger_factory_args=(name,),
        **initial_values,
    )

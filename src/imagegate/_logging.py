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

__all__ = ["LOG_LEVEL_ENV_VAR", "RequestLog", "get_bound_logger", "get_logger"]

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


def get_bound_logger(name: str = "imagegate", **initial_values: Any) -> Any:
    """`get_logger`, with the logger built now rather than at every call: for objects
    created with a router and used on every request (the lazy proxy builds the logger
    again at each call, even for an event below the level, a few µs each)."""
    return get_logger(name, **initial_values).bind()


class RequestLog:
    """A logger bound to one request's id, bound only when it first logs an event.

    Most requests log nothing at the default level (``warning``), so binding the id to
    every request's logger up front is work thrown away; the events that are logged carry
    ``request_id`` as a bound logger's would.

    Args:
        base: The engine's logger (`get_logger`).
        request_id: The id to bind.
    """

    __slots__ = ("_base", "_bound", "request_id")

    def __init__(self, base: Any, request_id: str) -> None:
        self._base = base
        self._bound: Any = None
        self.request_id = request_id

    def _logger(self, level: int) -> Any:
        if not self._base.is_enabled_for(level):
            return None
        if self._bound is None:
            self._bound = self._base.bind(request_id=self.request_id)
        return self._bound

    def is_enabled_for(self, level: int) -> bool:
        """Whether events at ``level`` are logged."""
        return bool(self._base.is_enabled_for(level))

    def debug(self, event: str, **fields: Any) -> None:
        """Log ``event`` at debug level."""
        logger = self._logger(logging.DEBUG)
        if logger is not None:
            logger.debug(event, **fields)

    def info(self, event: str, **fields: Any) -> None:
        """Log ``event`` at info level."""
        logger = self._logger(logging.INFO)
        if logger is not None:
            logger.info(event, **fields)

    def warning(self, event: str, **fields: Any) -> None:
        """Log ``event`` at warning level."""
        logger = self._logger(logging.WARNING)
        if logger is not None:
            logger.warning(event, **fields)

    def error(self, event: str, **fields: Any) -> None:
        """Log ``event`` at error level."""
        logger = self._logger(logging.ERROR)
        if logger is not None:
            logger.error(event, **fields)

    def __repr__(self) -> str:
        return f"RequestLog(request_id={self.request_id!r}, bound={self._bound is not None})"

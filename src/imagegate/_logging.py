"""Logging for imagegate: events through stdlib `logging`, never carrying a secret.

imagegate is a library: every event goes to a stdlib logger under ``imagegate``
(``imagegate.router``, ``imagegate.breaker``, ``imagegate.providers.gemini`` …), and the
application's logging configuration decides level, format and destination. The only
handler imagegate installs is the `logging.NullHandler` the logging HOWTO asks libraries
to add, so with logging unconfigured nothing reaches stdout or stderr (not even through
`logging.lastResort`).

Events are built with structlog: `imagegate._redact.redact_event` masks secrets in every
field (an exception becomes its redacted traceback text), then each event becomes one
`logging.LogRecord` whose message reads ``event key=value …`` (logfmt) and which carries
the event's name as ``record.imagegate_event`` and its fields as the dict
``record.imagegate``, for JSON formatters and structlog's `~structlog.stdlib.ExtraAdder`.
A call below the logger's level costs one `logging.Logger.isEnabledFor` check.

The CLI configures logging for itself (`configure_cli_logging`); docs/observability.md
has the recipes for services.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any, Final, TextIO

import structlog
from structlog.processors import LogfmtRenderer

from imagegate._redact import redact, redact_event

__all__ = [
    "LOGGER_NAME",
    "LOG_LEVEL_ENV_VAR",
    "EventLogger",
    "JsonFormatter",
    "RequestLog",
    "configure_cli_logging",
    "get_logger",
]

LOGGER_NAME: Final = "imagegate"
"""The stdlib logger every imagegate logger descends from."""

LOG_LEVEL_ENV_VAR: Final = "IMAGEGATE_LOG_LEVEL"
"""The CLI's default log level (``debug``, ``info``, ``warning`` …), when ``-v`` is not
given. The library itself reads no environment variable: its level is the application's
logging configuration."""

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())

_LOGFMT: Final = LogfmtRenderer(bool_as_flag=False)


def _to_record(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The last processor: the arguments of the stdlib logging call (module docstring)."""
    fields = dict(event_dict)
    event = str(fields.pop("event", ""))
    exception = fields.pop("exception", None)
    message = f"{event} {_LOGFMT(None, method, fields)}" if fields else event
    if exception is not None:
        message = f"{message}\n{exception}"
        fields["exception"] = exception
    return ("%s", message), {"extra": {"imagegate_event": event, "imagegate": fields}}


_PROCESSORS: Final = (redact_event, _to_record)


class EventLogger(structlog.stdlib.BoundLogger):
    """A structlog logger over a stdlib one that does nothing below the stdlib level.

    Built by `get_logger`; ``bind`` returns another of its kind with more fields.
    """

    def is_enabled_for(self, level: int) -> bool:
        """Whether an event at ``level`` would be logged (the stdlib logger decides)."""
        return bool(self._logger.isEnabledFor(level))

    def debug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at debug level."""
        if self._logger.isEnabledFor(logging.DEBUG):
            return self._proxy_to_logger("debug", event, *args, **kw)
        return None

    def info(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at info level."""
        if self._logger.isEnabledFor(logging.INFO):
            return self._proxy_to_logger("info", event, *args, **kw)
        return None

    def warning(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at warning level."""
        if self._logger.isEnabledFor(logging.WARNING):
            return self._proxy_to_logger("warning", event, *args, **kw)
        return None

    def error(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """Log ``event`` at error level."""
        if self._logger.isEnabledFor(logging.ERROR):
            return self._proxy_to_logger("error", event, *args, **kw)
        return None


def get_logger(name: str = LOGGER_NAME, **initial_values: Any) -> EventLogger:
    """An `EventLogger` on the stdlib logger ``name`` (under ``imagegate``), with
    ``initial_values`` bound to every event it logs."""
    return EventLogger(logging.getLogger(name), _PROCESSORS, dict(initial_values))


class RequestLog:
    """A logger bound to one request's id, bound only when it first logs an event.

    Most requests log nothing at the default level, so binding the id to every request's
    logger up front is work thrown away; the events that are logged carry ``request_id``
    as a bound logger's would.

    Args:
        base: The engine's logger (`get_logger`).
        request_id: The id to bind.
    """

    __slots__ = ("_base", "_bound", "is_enabled_for", "request_id")

    def __init__(self, base: EventLogger, request_id: str) -> None:
        self._base = base
        self._bound: EventLogger | None = None
        self.request_id = request_id
        # The stdlib logger's own check, bound once: asked several times per attempt,
        # it is then one call, not two methods around it.
        self.is_enabled_for: Callable[[int], bool] = base._logger.isEnabledFor
        """Whether events at a level are logged (the stdlib logger decides)."""

    def _logger(self, level: int) -> EventLogger | None:
        if not self.is_enabled_for(level):
            return None
        if self._bound is None:
            self._bound = self._base.bind(request_id=self.request_id)
        return self._bound

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


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, event and the event's fields
    (``record.imagegate``); records from other libraries carry their message as
    ``event``. Text is redacted again, for records that did not come through imagegate."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        fields: Mapping[str, Any] = getattr(record, "imagegate", {})
        event = getattr(record, "imagegate_event", None) or redact(record.getMessage())
        document = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event,
            **fields,
        }
        return json.dumps(document, default=str, ensure_ascii=False)


class _RedactingFormatter(logging.Formatter):
    """The plain formatter, redacting what other libraries' records say."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure_cli_logging(
    verbosity: int = 0, *, json_lines: bool = False, stream: TextIO | None = None
) -> None:
    """Send imagegate's events to stderr for the command line (what a service does with
    its own logging configuration instead).

    The level is ``warning``, ``info`` with one ``-v`` and ``debug`` with two; without
    ``-v``, `LOG_LEVEL_ENV_VAR` may set it. Records are human-readable lines, or JSON
    lines with ``json_lines``. Only the ``imagegate`` logger is touched.
    """
    if verbosity > 0:
        level = logging.INFO if verbosity == 1 else logging.DEBUG
    else:
        named = logging.getLevelName(os.environ.get(LOG_LEVEL_ENV_VAR, "warning").upper())
        level = named if isinstance(named, int) else logging.WARNING
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else _RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
    )
    logger = logging.getLogger(LOGGER_NAME)
    for old in [h for h in logger.handlers if getattr(h, "_imagegate_cli", False)]:
        logger.removeHandler(old)
    handler._imagegate_cli = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)

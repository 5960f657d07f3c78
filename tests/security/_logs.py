"""Logging set-ups an application may have, for the tests that read what imagegate logs:
a plain stdlib formatter, imagegate's JSON lines, and structlog's `ProcessorFormatter`
(console with rich tracebacks, JSON with dict tracebacks) over stdlib records — each
writing to a buffer from a handler on the ``imagegate`` logger, which does not propagate
(so pytest's own capture does not keep thousands of records in memory). The suite's
conftest puts the logger back after every test."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable

import structlog

from imagegate._logging import JsonFormatter

Configure = Callable[[io.StringIO], None]


def _with(formatter: logging.Formatter) -> Configure:
    def configure(out: io.StringIO) -> None:
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        ours = logging.getLogger("imagegate")
        ours.addHandler(handler)
        ours.propagate = False

    return configure


def _structlog(*processors: structlog.typing.Processor) -> logging.Formatter:
    return structlog.stdlib.ProcessorFormatter(
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *processors],
        foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder()],
    )


RENDERERS: dict[str, Configure] = {
    "stdlib_plain": _with(logging.Formatter("%(levelname)s %(name)s %(message)s")),
    "imagegate_json": _with(JsonFormatter()),
    "structlog_console_rich": _with(_structlog(structlog.dev.ConsoleRenderer(colors=False))),
    "structlog_json_dict_tracebacks": _with(
        _structlog(structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer())
    ),
}
EXPLAINED = set(RENDERERS)
"""Renderers that show the ``exception`` field (every one: it is in the message and in
the record's ``imagegate`` fields)."""


def set_level(level: str) -> None:
    """The ``imagegate`` logger at ``level`` (``"debug"``, ``"warning"`` …)."""
    logging.getLogger("imagegate").setLevel(level.upper())

"""Logging set-ups an application may have, for the tests that read what imagegate logs:
structlog's renderers (console with rich tracebacks, JSON with dict tracebacks …) and the
stdlib ``logging`` bridge, each writing to a buffer."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

Configure = Callable[[io.StringIO], None]


def _structlog(*processors: Any) -> Configure:
    def configure(out: io.StringIO) -> None:
        structlog.configure(
            processors=list(processors),
            logger_factory=structlog.WriteLoggerFactory(file=out),
            cache_logger_on_first_use=False,
        )

    return configure


def _stdlib(*processors: Any) -> Configure:
    def configure(out: io.StringIO) -> None:
        handler = logging.StreamHandler(out)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        logging.getLogger().addHandler(handler)
        structlog.configure(
            processors=list(processors),
            logger_factory=structlog.stdlib.LoggerFactory(),
            cache_logger_on_first_use=False,
        )

    return configure


RENDERERS: dict[str, Configure] = {
    "console_rich": _structlog(structlog.dev.ConsoleRenderer(colors=False)),
    "console_plain": _structlog(
        structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    ),
    "json_dict_tracebacks": _structlog(
        structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()
    ),
    "json_format_exc_info": _structlog(
        structlog.processors.format_exc_info, structlog.processors.JSONRenderer()
    ),
    "stdlib_key_value": _stdlib(structlog.processors.KeyValueRenderer()),
    # The event's fields go to ``extra`` and ``exc_info`` to the stdlib formatter.
    "stdlib_log_kwargs": _stdlib(structlog.stdlib.render_to_log_kwargs),
}
EXPLAINED = set(RENDERERS) - {"stdlib_log_kwargs"}
"""Renderers that show the ``exception`` field (the other puts it in ``extra``)."""


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog's configuration and the root logger back as they were."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    root.setLevel(logging.DEBUG)
    yield
    structlog.configure(**config)
    for handler in root.handlers[:]:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)

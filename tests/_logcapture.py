"""imagegate's log events as a test sees them: through stdlib logging, the way an
application receives them (no structlog configuration involved)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EventHandler(logging.Handler):
    """Keeps every imagegate record as a dict: ``event``, ``log_level``, ``logger`` and the
    event's fields (what the record carries as ``record.imagegate``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.events: list[dict[str, Any]] = []
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.events.append(
            {
                "event": getattr(record, "imagegate_event", record.getMessage()),
                "log_level": record.levelname.lower(),
                "logger": record.name,
                **getattr(record, "imagegate", {}),
            }
        )


@contextmanager
def imagegate_level(level: int | str) -> Iterator[None]:
    """The ``imagegate`` logger at ``level`` (a number or a name such as ``"debug"``)."""
    logger = logging.getLogger("imagegate")
    before = logger.level
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    try:
        yield
    finally:
        logger.setLevel(before)


@contextmanager
def captured_events(level: int | str = logging.DEBUG) -> Iterator[list[dict[str, Any]]]:
    """Every imagegate event at ``level`` or above while the block runs."""
    handler = EventHandler()
    logger = logging.getLogger("imagegate")
    logger.addHandler(handler)
    try:
        with imagegate_level(level):
            yield handler.events
    finally:
        logger.removeHandler(handler)

"""Errors that hold nothing live: no vendor exception, no request, no frame locals.

A vendor exception is a live object: ``openai.APIStatusError.response.request.headers``,
aiohttp's ``ClientResponseError.request_info.headers`` and the frames of its traceback all
hold the API key. An imagegate error chained to it (``raise Mapped(...) from exc``) hands
the key to anyone who walks ``__cause__``/``__context__`` or renders the traceback with
its locals. So what an error keeps of a cause is an `UpstreamCause`: the vendor type's
name, its redacted message and its stack (file, line, function) with the frames' locals
cleared, chained the same way to stand-ins for its own causes.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Awaitable, Callable, Coroutine
from types import FrameType, TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from imagegate._redact import redact
from imagegate.errors import ImageGateError

__all__ = ["UpstreamCause", "detach", "detaching", "stand_in"]

_MAX_DEPTH: Final = 16
"""How many causes are kept; a longer chain is cut (a loop would be endless)."""

_E = TypeVar("_E", bound=BaseException)
_P = ParamSpec("_P")
_T = TypeVar("_T")


class UpstreamCause(Exception):
    """What is kept of an exception that caused an imagegate error.

    Attributes:
        type_name: The original exception's qualified type, e.g. ``"openai.AuthenticationError"``.
        message: Its message, redacted.
    """

    def __init__(self, type_name: str, message: str) -> None:
        self.type_name = type_name
        self.message = redact(message)
        super().__init__(f"{type_name}: {self.message}" if self.message else type_name)


def stand_in(exc: BaseException, _depth: int = 0) -> UpstreamCause:
    """An `UpstreamCause` for ``exc`` and, in turn, for what caused it."""
    if isinstance(exc, UpstreamCause):
        return exc
    kind = type(exc)
    module = kind.__module__
    name = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    copy = UpstreamCause(name, str(exc))
    _clear_locals(exc.__traceback__)
    copy.__traceback__ = exc.__traceback__
    if _depth < _MAX_DEPTH:
        if exc.__cause__ is not None:
            copy.__cause__ = stand_in(exc.__cause__, _depth + 1)
        elif exc.__context__ is not None and not exc.__suppress_context__:
            copy.__context__ = stand_in(exc.__context__, _depth + 1)
    copy.__suppress_context__ = exc.__suppress_context__
    return copy


def detach(error: _E) -> _E:
    """Cut ``error`` loose from live objects; returns it.

    Its ``__cause__`` and ``__context__`` become `stand_in` copies (Python sets
    ``__context__`` to the exception being handled when an adapter raises inside an
    ``except`` block, whatever ``from`` says), and the finished frames of every traceback in
    the chain drop their locals. The frame handling ``error`` (still running, so its locals
    cannot go) leaves its traceback: kept there, it would keep whatever it refers to
    alive with the error, and an attempt's record that holds the error would close a
    reference cycle through it.
    """
    head = error.__traceback__
    if head is not None and _running(head.tb_frame):
        error.__traceback__ = head.tb_next
    cause, context = error.__cause__, error.__context__
    if cause is not None:
        error.__cause__ = stand_in(cause)
    if context is not None:
        error.__context__ = error.__cause__ if context is cause else stand_in(context)
    _clear_locals(error.__traceback__)
    link: BaseException | None = error.__cause__ or error.__context__
    for _ in range(_MAX_DEPTH):
        if link is None:
            break
        _clear_locals(link.__traceback__)
        link = link.__cause__ or link.__context__
    return error


def detaching(
    generate: Callable[_P, Awaitable[_T]],
) -> Callable[_P, Coroutine[Any, Any, _T]]:
    """Wrap an adapter's ``generate`` so that every imagegate error it raises is `detach`ed.

    An adapter maps inside ``except`` blocks, so Python makes the SDK's live exception the
    mapped error's ``__context__``; the error leaves ``generate`` without it.
    """

    @functools.wraps(generate)
    async def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return await generate(*args, **kwargs)
        except ImageGateError as exc:
            detach(exc)
            raise  # re-raised as is: Python leaves the context we set alone

    return wrapper


def _running(frame: FrameType) -> bool:
    """Whether ``frame`` is on the running stack (the caller's, or one it was called from)."""
    here: FrameType | None = sys._getframe(1)
    while here is not None:
        if here is frame:
            return True
        here = here.f_back
    return False


def _clear_locals(tb: TracebackType | None) -> None:
    # Frames still running (the one handling the error) refuse and keep theirs.
    if tb is not None:
        traceback.clear_frames(tb)

"""Connection-level failures, classified by how far the request got.

Whether a failed call may have been billed depends on how far it got: a refused or
unresolvable connection never reached the provider (``"not_billed"``); a reset, a read
timeout or a truncated body happened after the request was sent, so the provider may have
done (and charged for) the work (``"possibly_billed"``). The SDKs wrap the socket errors
(openai wraps httpx, which wraps aiohttp), so `transport_error` walks the exception chain
and decides on the innermost error it recognises.
"""

from __future__ import annotations

import json
from typing import Final

import aiohttp

from imagegate.errors import DeadlineExceeded, ProviderError, TransportError
from imagegate.providers._guard import AnswerRefused
from imagegate.providers._httpx import TRANSPORT_MODULES
from imagegate.providers._scrub import causes

__all__ = ["transport_error"]

# Failures before the request reached the server: nothing can have been billed.
_NOT_SENT: Final = (
    aiohttp.ConnectionTimeoutError,
    aiohttp.ClientConnectorError,
    ConnectionRefusedError,
    *(m.ConnectError for m in TRANSPORT_MODULES),
)
# Timeouts after the request was sent.
_READ_TIMEOUTS: Final = (
    aiohttp.ServerTimeoutError,
    *(m.ReadTimeout for m in TRANSPORT_MODULES),
    *(m.WriteTimeout for m in TRANSPORT_MODULES),
    TimeoutError,
)
# Anything else we recognise: reset, disconnect, truncated or malformed body.
_AFTER_SEND: Final = (
    aiohttp.ClientError,
    *(m.TransportError for m in TRANSPORT_MODULES),
    ConnectionError,
    json.JSONDecodeError,
)


def transport_error(
    exc: BaseException, *, route: str | None, size: str | None, what: str = "request"
) -> ProviderError | None:
    """Map a connection-level exception to `TransportError` or `DeadlineExceeded`.

    Looks through ``__cause__``/``__context__`` for the innermost socket-level error, so
    an ``openai.APITimeoutError`` caused by a refused connection is reported as a refused
    connection (not billed), not as a timeout. An answer refused by
    `imagegate.providers._guard` (too large, a redirect) is a `TransportError`, possibly
    billed. Returns None when nothing in the chain is a
    transport failure.
    """
    for cause in reversed(list(causes(exc))):
        mapped = _classified(cause, route=route, size=size, what=what)
        if mapped is not None:
            return mapped
    return None


def _classified(
    cause: BaseException, *, route: str | None, size: str | None, what: str
) -> ProviderError | None:
    """The error for one link of the chain, or None if it is not a transport failure."""
    detail = f"{type(cause).__name__}: {cause}".rstrip(": ")
    if isinstance(cause, AnswerRefused):  # an oversized answer, a redirect with a key
        return TransportError(
            f"{what} refused: {cause}", route=route, size=size, billing="possibly_billed"
        )
    if isinstance(cause, _NOT_SENT):
        return TransportError(
            f"{what} could not connect ({detail})", route=route, size=size, billing="not_billed"
        )
    if isinstance(cause, _READ_TIMEOUTS):
        return DeadlineExceeded(
            f"{what} timed out waiting for the provider ({detail}); the provider may "
            "have finished (and billed) the work",
            route=route,
            size=size,
            billing="possibly_billed",
        )
    if isinstance(cause, _AFTER_SEND):
        return TransportError(
            f"{what} failed after it was sent ({detail})",
            route=route,
            size=size,
            billing="possibly_billed",
        )
    return None

"""What a mapped error is chained to: a stand-in for the vendor exception, with every
credential masked.

``raise Mapped(...) from exc`` would keep the SDK's live exception, whose request carries
the key in its headers and whose frames hold it in their locals. `scrub` masks the vendor
exception (and its causes) in place and returns an `UpstreamCause` that keeps only the
type, the redacted message and the stack; `causes` walks an exception chain, for
`imagegate.providers._transport` too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, Final

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from imagegate._redact import redact
from imagegate._sanitize import UpstreamCause, stand_in

__all__ = ["causes", "scrub"]

# Request headers that carry a credential, masked whole wherever a vendor error keeps them.
_SECRET_HEADERS: Final = frozenset(
    ("authorization", "proxy-authorization", "x-key", "x-goog-api-key", "api-key", "cookie")
)
_MASKED_ATTRIBUTES: Final = ("message", "body", "details")


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it (``__cause__``, else ``__context__``), outermost first;
    a cycle is walked once."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def scrub(exc: BaseException) -> UpstreamCause:
    """What to chain a mapped error to: a stand-in for the vendor exception.

    ``raise Mapped(...) from exc`` would keep the SDK's live exception, whose request
    carries the key in its headers and whose frames hold it in their locals; the
    `UpstreamCause` keeps its type, redacted message and stack only. The vendor exception
    itself (and its causes) is masked in place too (``args``, ``message``, ``body``,
    ``details``, and the credential headers of an aiohttp ``request_info``), since
    upstreams echo keys back ("API key 'x' not valid") and the SDK's own objects may be
    held elsewhere.
    """
    for cause in causes(exc):
        _mask_in_place(cause)
    return stand_in(exc)


def _mask_in_place(cause: BaseException) -> None:
    info = getattr(cause, "request_info", None)
    if isinstance(info, aiohttp.RequestInfo):
        with contextlib.suppress(AttributeError, TypeError):
            setattr(cause, "request_info", _masked_request_info(info))  # noqa: B010
    masked = tuple(_masked(a) for a in cause.args)
    if masked != cause.args:
        cause.args = masked
    for attr in _MASKED_ATTRIBUTES:
        value = getattr(cause, attr, None)
        if isinstance(value, str | dict | list):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(cause, attr, _masked(value))


def _masked_request_info(info: aiohttp.RequestInfo) -> aiohttp.RequestInfo:
    headers = CIMultiDict(
        (name, "***" if name.lower() in _SECRET_HEADERS else redact(value))
        for name, value in info.headers.items()
    )
    return aiohttp.RequestInfo(
        URL(redact(str(info.url))), info.method, CIMultiDictProxy(headers),
        URL(redact(str(info.real_url))),
    )  # fmt: skip


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if type(value) is dict:
        return {k: _masked(v) for k, v in value.items()}
    if type(value) in (list, tuple):  # not named tuples: their fields are not ours
        return type(value)(_masked(v) for v in value)
    return value

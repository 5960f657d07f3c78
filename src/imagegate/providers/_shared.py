"""Helpers shared by the adapters: classify connection failures, download images with a
size cap and a `DownloadPolicy`, validate route options.

Whether a failed call may have been billed depends on how far it got: a refused or
unresolvable connection never reached the provider (``"not_billed"``); a reset, a read
timeout or a truncated body happened after the request was sent, so the provider may have
done (and charged for) the work (``"possibly_billed"``). The SDKs wrap the socket errors
(openai wraps httpx, which wraps aiohttp), so `transport_error` walks the exception chain
and decides on the innermost error it recognises.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import math
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final
from urllib.parse import urljoin

import aiohttp
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from imagegate._provider import Capabilities, ProviderRequest
from imagegate._redact import redact
from imagegate._request import SIZES, Size
from imagegate._result import GeneratedImage
from imagegate._sanitize import UpstreamCause, stand_in
from imagegate.errors import (
    AuthenticationError,
    Billing,
    ConfigurationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.providers._guard import AnswerRefused, DownloadPolicy
from imagegate.providers._httpx import TRANSPORT_MODULES

__all__ = [
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "check_options",
    "download_image",
    "map_status",
    "parse_price_option",
    "real_timeout_s",
    "refuse_unsupported",
    "reported_cost_usd",
    "retry_after_s",
    "scrub",
    "transport_error",
]

DEFAULT_MAX_DOWNLOAD_BYTES: Final = 128 * 1024 * 1024
"""Largest image body accepted from a download URL (a realistic 4K PNG is ~50 MB)."""

# Request headers that carry a credential, masked whole wherever a vendor error keeps them.
_SECRET_HEADERS: Final = frozenset(
    ("authorization", "proxy-authorization", "x-key", "x-goog-api-key", "api-key", "cookie")
)

_STRICT: Final = DownloadPolicy()
_MAX_HOPS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})

_TRY_AGAIN: Final = re.compile(r"try again in (\d+(?:\.\d+)?)\s*(ms|s)\b", re.IGNORECASE)
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


def _chain(exc: BaseException) -> Iterator[BaseException]:
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
    for cause in _chain(exc):
        info = getattr(cause, "request_info", None)
        if isinstance(info, aiohttp.RequestInfo):
            with contextlib.suppress(AttributeError, TypeError):
                setattr(cause, "request_info", _masked_request_info(info))  # noqa: B010
        masked = tuple(_masked(a) for a in cause.args)
        if masked != cause.args:
            cause.args = masked
        for attr in ("message", "body", "details"):
            value = getattr(cause, attr, None)
            if isinstance(value, str | dict | list):
                with contextlib.suppress(AttributeError, TypeError):
                    setattr(cause, attr, _masked(value))
    return stand_in(exc)


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
    for cause in reversed(list(_chain(exc))):
        detail = f"{type(cause).__name__}: {cause}".rstrip(": ")
        if isinstance(cause, AnswerRefused):  # an oversized answer, a redirect with a key
            return TransportError(
                f"{what} refused: {cause}", route=route, size=size, billing="possibly_billed"
            )
        if isinstance(cause, _NOT_SENT):
            return TransportError(
                f"{what} could not connect ({detail})",
                route=route,
                size=size,
                billing="not_billed",
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


def check_options(provider: str, options: Mapping[str, Any], accepted: Iterable[str]) -> None:
    """Reject route options the provider does not know (a typo must not pass silently).

    Raises:
        ConfigurationError: naming the unknown options and the accepted ones.
    """
    known = set(accepted)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"{provider}: unknown option(s) {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(known)) or 'none'}"
        )


def parse_price_option(value: object, *, provider: str) -> dict[Size, float] | None:
    """Validate a ``price_usd`` option: one price for every tier, or a tier → price map."""
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and _price(value):
        return dict.fromkeys(SIZES, float(value))
    if isinstance(value, Mapping) and all(
        k in SIZES and isinstance(v, int | float) and _price(v) for k, v in value.items()
    ):
        return {k: float(v) for k, v in value.items()}
    raise ConfigurationError(
        f"{provider}: price_usd must be a non-negative number or a mapping of "
        f"{', '.join(SIZES)} to prices, got {value!r}"
    )


def _price(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def reported_cost_usd(value: object, *, usd_per_unit: float = 1.0) -> float | None:
    """The cost an answer reports, in dollars; None when it carries no number.

    An upstream's body is not trusted to be sane: a number too large for a float (an
    integer of 400 digits) reads as infinity instead of raising, and the router books the
    catalogue estimate for any cost `imagegate._provider.plausible_cost` refuses.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return float(value) * usd_per_unit
    except OverflowError:
        return math.inf


def refuse_unsupported(capabilities: Capabilities, request: ProviderRequest, route: str) -> None:
    """Refuse, before any network call, a request the model cannot serve.

    Raises:
        InvalidRequestError: naming the field (``size``, ``aspect_ratio`` or ``n``).
    """
    reason = capabilities.unsupported_reason(request.size, request.aspect_ratio, request.n)
    if reason is None:
        return
    field = "size"
    if reason.startswith("aspect"):
        field = "aspect_ratio"
    elif reason.startswith("n="):
        field = "n"
    raise InvalidRequestError(f"{route}: {reason}", field=field, route=route, size=request.size)


def real_timeout_s(timeout_s: float | None) -> float | None:
    """An attempt timeout for an SDK client, at least 1 ms (None: no limit).

    The router also enforces the timeout with a cancel scope; passing it to the SDK makes
    the client give the connection up on its own as well.
    """
    if timeout_s is None:
        return None
    return max(0.001, timeout_s)


async def download_image(
    session: aiohttp.ClientSession,
    url: str,
    *,
    max_bytes: int,
    timeout_s: float | None,
    route: str | None,
    size: str | None,
    billing: Billing = "billed",
    policy: DownloadPolicy = _STRICT,
) -> GeneratedImage:
    """Fetch an image URL (no credentials sent), enforcing ``policy`` at every redirect
    hop, a size cap and an image type.

    Raises:
        TransportError: a URL (or redirect) the policy refuses, non-200 answer (an
            expired signed URL), a body that is not an image, larger than ``max_bytes``,
            or cut short. ``billing`` says what the provider charged for the work that
            produced the URL.
        DeadlineExceeded: the download timed out.
    """
    timeout = aiohttp.ClientTimeout(total=timeout_s)
    try:
        for _ in range(_MAX_HOPS + 1):
            await policy.check(url)
            async with session.get(url, timeout=timeout, allow_redirects=False) as resp:
                location = resp.headers.get("Location")
                if resp.status in _REDIRECTS and location:
                    url = urljoin(str(resp.url), location)
                    continue
                body, content_type = await _image_body(resp, max_bytes, route, size, billing)
                break
        else:
            raise TransportError(
                f"image download redirected more than {_MAX_HOPS} times",
                route=route, size=size, billing=billing,
            )  # fmt: skip
    except (aiohttp.ClientError, TimeoutError, AnswerRefused) as exc:
        mapped = transport_error(exc, route=route, size=size, what="image download")
        assert mapped is not None
        mapped.billing = billing  # the failed download does not undo the generation
        raise mapped from scrub(exc)
    try:
        return GeneratedImage(body, mime_type=content_type)
    except ValueError as exc:
        raise TransportError(
            f"downloaded image is unusable: {exc}", route=route, size=size, billing=billing
        ) from exc


async def _image_body(
    resp: aiohttp.ClientResponse, max_bytes: int, route: str | None, size: str | None,
    billing: Billing,
) -> tuple[bytes, str]:  # fmt: skip
    if resp.status != 200:
        raise TransportError(
            f"image download answered HTTP {resp.status} (expired or refused URL)",
            route=route, size=size, status=resp.status, billing=billing,
        )  # fmt: skip
    content_type = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if not content_type.startswith("image/"):
        raise TransportError(
            f"image download returned {content_type or 'no content type'}, not an image",
            route=route, size=size, billing=billing,
        )  # fmt: skip
    if resp.content_length is not None and resp.content_length > max_bytes:
        raise TransportError(
            f"image download of {resp.content_length:,} bytes exceeds the {max_bytes:,}-byte cap",
            route=route, size=size, billing=billing,
        )  # fmt: skip
    body = bytearray()
    async for chunk in resp.content.iter_chunked(1 << 16):
        body += chunk
        if len(body) > max_bytes:
            raise TransportError(
                f"image download exceeds the {max_bytes:,}-byte cap",
                route=route, size=size, billing=billing,
            )  # fmt: skip
    return bytes(body), content_type


def map_status(
    status: int,
    *,
    code: str,
    message: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str] | None,
    route: str,
    size: Size,
    raw_text: str | None = None,
) -> ImageGateError:
    """Map an HTTP status (or an error ``code`` found inside a 200 body) and the error
    object of an OpenAI-style or FastAPI-style JSON body to an imagegate error::

        402, insufficient_quota           QuotaExhausted(scope="credits")
        billing_hard_limit_reached        QuotaExhausted(scope="billing_limit")
        429, rate_limit_exceeded          RateLimited (retry_after_s from the headers/body)
        content_policy_violation,         ContentBlocked (stage from moderation_details)
          moderation_blocked, 403 "moderation"
        401, 403                          AuthenticationError
        3xx                               TransportError (a redirect is not followed)
        408, 504                          DeadlineExceeded (not billed: the server gave up)
        404                               InvalidRequestError(field="model")
        other 4xx                         InvalidRequestError(field=param)
        503                               Overloaded
        5xx with an HTML page             TransportError (a proxy answered, not the API)
        other 5xx                         UpstreamError
    """
    where: dict[str, Any] = {"route": route, "size": size, "status": status}
    text = f"{code}: {message}" if code and code not in message else message
    if status >= 500 and raw_text is not None and raw_text.lstrip()[:1] == "<":
        return TransportError(
            f"HTTP {status} answered by a proxy with an HTML page, not by the API",
            billing="possibly_billed",
            **where,
        )
    if 300 <= status < 400:  # the key is not sent on to wherever it points
        return TransportError(
            f"HTTP {status} redirect not followed: the key is not sent on",
            billing="possibly_billed",
            **where,
        )
    kind = str(body.get("type") or "")
    if code == "insufficient_quota" or kind == "insufficient_quota" or status == 402:
        return QuotaExhausted(text, scope="credits", **where)
    if code == "billing_hard_limit_reached":
        return QuotaExhausted(text, scope="billing_limit", **where)
    if status == 429 or code == "rate_limit_exceeded":
        return RateLimited(text, retry_after_s=retry_after_s(headers, body, message), **where)
    moderation = body.get("moderation_details")
    if code in ("content_policy_violation", "moderation_blocked") or (
        status == 403 and re.search(r"moderat|flagged|guardrail", message, re.IGNORECASE)
    ):
        stage = moderation.get("moderation_stage") if isinstance(moderation, Mapping) else None
        return ContentBlocked(
            text, stage="output" if stage == "output" else "prompt", reason=code or "moderation",
            **where,
        )  # fmt: skip
    if status in (401, 403):
        return AuthenticationError(text, **where)
    if status in (408, 504):  # the server gave up and says so: no output, no charge
        return DeadlineExceeded(text, billing="not_billed", **where)
    if status == 404:
        return InvalidRequestError(text, field="model", route=route, size=size, status=status)
    if 400 <= status < 500:
        param = body.get("param")
        return InvalidRequestError(
            text, field=param if isinstance(param, str) else None, route=route, size=size,
            status=status,
        )  # fmt: skip
    if status == 503:
        return Overloaded(text, retry_after_s=retry_after_s(headers, body, message), **where)
    return UpstreamError(text or f"HTTP {status}", **where)


def retry_after_s(
    headers: Mapping[str, str] | None, body: Mapping[str, Any], message: str
) -> float | None:
    """``retry-after-ms``, then ``retry-after`` (seconds or an HTTP date), then a
    ``retry_after`` field, then "try again in 12s" in the message."""
    headers = headers or {}
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until(value) if scale == 1.0 else -1.0
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    field = body.get("retry_after")
    metadata = body.get("metadata")
    if field is None and isinstance(metadata, Mapping):
        field = metadata.get("retry_after")
    if isinstance(field, int | float) and not isinstance(field, bool) and field >= 0:
        return float(field)
    found = _TRY_AGAIN.search(message)
    if found:
        value_s = float(found.group(1))
        return value_s / 1000 if found.group(2).lower() == "ms" else value_s
    return None


def _seconds_until(http_date: str) -> float:
    try:
        when = email.utils.parsedate_to_datetime(http_date)
    except (TypeError, ValueError):
        return -1.0
    return max(0.0, when.timestamp() - time.time())

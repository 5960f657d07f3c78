"""Limits on what an upstream may send back: a byte cap on every API answer, counted after
decompression, and no redirects on requests that carry a key.

An upstream is a third party (an aggregator, a proxy, possibly a compromised endpoint). A
300 MB JSON answer, an endless chunked stream or a gzip bomb must end in a clear error
once `DEFAULT_MAX_RESPONSE_BYTES` (or the route's ``max_response_bytes``) have been read,
not in memory growth; a 3xx must not carry the key to a host the provider's docs do not
name. Each HTTP stack gets the same rule through its own hook:

- our own aiohttp calls (Flux) read with `read_capped`;
- google-genai's aiohttp session gets `aiohttp_guard` as a request middleware;
- the openai SDK gets `capped_openai_client`, whose ``send`` reads the decoded body.

Image URLs chosen by the upstream (an OpenAI ``url``, an aggregator's ``image_url``, a
Flux ``sample``) are fetched only where `DownloadPolicy` allows: https to public
addresses (checked after DNS resolution, at every redirect hop), the route's own API
origin, or what the route's ``download_allow`` lists.

aiohttp inflates a compressed body a bounded piece at a time, and httpx one network chunk
at a time, so the cap stops a bomb after at most one piece beyond it. The exceptions
raised here are mapped to `TransportError` by `imagegate.providers._transport.transport_error`.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp

from imagegate.errors import ConfigurationError
from imagegate.providers._httpx import sdk_httpx

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AnswerRefused",
    "AnswerTooLarge",
    "DownloadPolicy",
    "DownloadRefused",
    "RedirectRefused",
    "aiohttp_guard",
    "capped_openai_client",
    "read_capped",
]

DEFAULT_MAX_RESPONSE_BYTES: Final = 64 * 1024 * 1024
"""Largest API answer read, after decompression (a 4K PNG is ~20–30 MB, ~40 MB in base64)."""

_CHUNK: Final = 1 << 16
_DROPPED_HEADERS: Final = frozenset({"content-encoding", "content-length", "transfer-encoding"})


class AnswerRefused(Exception):
    """An answer imagegate will not read or follow (raised inside an HTTP stack)."""


class AnswerTooLarge(AnswerRefused):
    """The answer's body (after decompression) is larger than the cap."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"answer exceeds the {max_bytes:,}-byte cap (after decompression)")


class RedirectRefused(AnswerRefused):
    """A 3xx answered a request that carries a key: the key is not sent on."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status} redirect not followed: the key is not sent on")


class DownloadRefused(AnswerRefused):
    """An image URL outside the `DownloadPolicy` (private address, plain http …)."""


IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class DownloadPolicy:
    """Where an upstream-chosen image URL may be fetched from.

    By default only https to public addresses: every address the host resolves to must be
    global (no private, loopback, link-local such as 169.254.169.254, shared, multicast or
    reserved range). Allowed besides: the route's own API origin (the host the key already
    goes to), and hosts or networks listed in ``download_allow`` (then plain http too),
    e.g. ``["127.0.0.1"]`` for a local simulator or ``["10.0.0.0/8"]`` for a gateway.

    Attributes:
        origin: ``(scheme, host, port)`` of the route's base URL, or None.
        hosts: Host names allowed as they are.
        networks: Address ranges allowed (a single address is a /32 or /128).
    """

    origin: tuple[str, str, int] | None = None
    hosts: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls, provider: str, *, base_url: str | None, download_allow: Iterable[str] = ()
    ) -> DownloadPolicy:
        """Validate a route's ``download_allow`` (host names, addresses or CIDRs).

        Raises:
            ConfigurationError: not a list of strings.
        """
        if isinstance(download_allow, str) or not all(
            isinstance(entry, str) and entry for entry in download_allow
        ):
            raise ConfigurationError(
                f"{provider}: download_allow must be a list of host names, addresses or "
                f"networks, got {download_allow!r}"
            )
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in download_allow:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower())
        return cls(_origin(base_url) if base_url else None, frozenset(hosts), tuple(networks))

    async def check(self, url: str) -> None:
        """Raise `DownloadRefused` unless ``url`` may be fetched (resolving its host)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise DownloadRefused(f"not an http(s) URL ({parts.scheme or 'no'} scheme)")
        host = parts.hostname.lower()
        if _origin(url) == self.origin or host in self.hosts:
            return
        addresses = await _resolve(host, _origin(url)[2])
        if self._allowed_networks(addresses):
            return
        if parts.scheme != "https":
            raise DownloadRefused(f"plain http to {host} (add it to download_allow if yours)")
        _refuse_private(host, addresses)

    def _allowed_networks(self, addresses: list[IPAddress]) -> bool:
        """Whether every address is in one of the allowed networks (none: False)."""
        return bool(self.networks) and all(any(a in n for n in self.networks) for a in addresses)


def _refuse_private(host: str, addresses: list[IPAddress]) -> None:
    """Raise `DownloadRefused` naming the first address that is not public."""
    for address in addresses:
        if not _public(address):
            raise DownloadRefused(
                f"{host} resolves to {address}, not a public address "
                "(add it to download_allow if it is yours)"
            )


def _origin(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or (443 if scheme == "https" else 80)


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DownloadRefused(f"cannot resolve {host}: {exc}") from exc
    # getaddrinfo answers plain strings, an IPv6 one possibly with a %zone
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def _public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


async def read_capped(response: aiohttp.ClientResponse, *, max_bytes: int) -> bytes:
    """The whole (decompressed) body of ``response``, or `AnswerTooLarge` past ``max_bytes``.

    The connection is closed when the cap is hit (or the read fails), so the rest is
    never received.
    """
    declared = response.content_length
    body = bytearray()
    try:
        if declared is not None and declared > max_bytes:
            raise AnswerTooLarge(max_bytes)
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise AnswerTooLarge(max_bytes)
    except BaseException:  # like aiohttp's own read(): a half-read connection is dropped
        response.close()
        raise
    return bytes(body)


def aiohttp_guard(*, max_bytes: int) -> aiohttp.ClientMiddlewareType:
    """A request middleware refusing redirects and reading the body with `read_capped`.

    It runs for every hop, so a redirect is refused before it is followed; the body it
    read is what ``response.read()``/``text()``/``json()`` then answer.
    """

    async def guard(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        if 300 <= response.status < 400:
            response.close()
            raise RedirectRefused(response.status)
        body = await read_capped(response, max_bytes=max_bytes)
        response._body = body  # what read() returns once set; there is no public setter
        return response

    return guard


def _decodable_type(content_type: str, body: bytes | bytearray) -> str:
    """``content_type`` without its ``charset`` when that charset cannot decode ``body``.

    httpx decodes text leniently (``errors="replace"``), but a UTF-16 or UTF-32 decoder
    still raises on a body without a byte-order mark, and the openai SDK reads the text
    of every error answer: a lying charset would escape as a bare `UnicodeError`. Without
    the parameter, the text is read as UTF-8 with replacements.
    """
    media, _, params = content_type.partition(";")
    kept = []
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset":
            try:
                decoder = codecs.getincrementaldecoder(value.strip().strip('"'))("replace")
                decoder.decode(bytes(body), final=True)  # as httpx decodes it
                kept.append(param.strip())
            except (LookupError, UnicodeError):
                continue
        elif param.strip():
            kept.append(param.strip())
    return "; ".join([media.strip(), *kept])


def capped_openai_client(*, max_bytes: int) -> Any:
    """The openai SDK's aiohttp-backed httpx client, reading answers with a byte cap.

    Redirects are not followed (a 3xx reaches the SDK as an error status).
    """
    return _capped_client_class()(max_bytes=max_bytes, follow_redirects=False)


@functools.cache
def _capped_client_class() -> type[Any]:
    import openai  # only the openai adapters need it

    httpx = sdk_httpx()

    class CappedClient(openai.DefaultAioHttpClient):
        """Reads each non-streamed answer itself, decoded, stopping at the cap."""

        def __init__(self, *, max_bytes: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.max_bytes = max_bytes

        async def send(self, request: Any, *, stream: bool = False, **kwargs: Any) -> Any:
            response = await super().send(request, stream=True, **kwargs)
            if stream:
                return response
            body = bytearray()
            try:
                async for chunk in response.aiter_bytes():  # decoded piece by piece
                    body += chunk
                    if len(body) > self.max_bytes:
                        raise AnswerTooLarge(self.max_bytes)
            except AnswerTooLarge as exc:
                # The SDK wraps transport errors only; ours stays the cause.
                raise httpx.ReadError(str(exc), request=request) from exc
            finally:
                await response.aclose()
            headers = [
                (name, _decodable_type(value, body) if name.lower() == "content-type" else value)
                for name, value in response.headers.multi_items()
                if name.lower() not in _DROPPED_HEADERS
            ]
            read = httpx.Response(
                response.status_code,
                headers=headers,
                content=bytes(body),
                request=request,
                extensions=response.extensions,
            )
            read.elapsed = response.elapsed
            return read

    return CappedClient

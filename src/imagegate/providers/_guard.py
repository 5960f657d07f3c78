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

aiohttp inflates a compressed body a bounded piece at a time, and httpx one network chunk
at a time, so the cap stops a bomb after at most one piece beyond it. The exceptions
raised here are mapped to `TransportError` by `imagegate.providers._shared.transport_error`.
"""

from __future__ import annotations

import functools
from typing import Any, Final

import aiohttp

from imagegate.providers._httpx import sdk_httpx

__all__ = [
    "DEFAULT_MAX_RESPONSE_BYTES",
    "AnswerRefused",
    "AnswerTooLarge",
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
                (name, value)
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

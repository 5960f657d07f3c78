"""Downloading an image URL chosen by the upstream: no credentials sent, the
`DownloadPolicy` checked at every redirect hop, a byte cap, an image content type.

An OpenAI ``url`` image, an aggregator's ``image_url`` and a Flux ``sample`` all come
through `download_image`; a failure keeps the billing of the work that produced the URL
(a failed download does not undo a generation).
"""

from __future__ import annotations

from typing import Final
from urllib.parse import urljoin

import aiohttp

from imagegate._result import GeneratedImage
from imagegate.errors import Billing, TransportError
from imagegate.providers._guard import AnswerRefused, DownloadPolicy
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error

__all__ = ["DEFAULT_MAX_DOWNLOAD_BYTES", "download_image"]

DEFAULT_MAX_DOWNLOAD_BYTES: Final = 128 * 1024 * 1024
"""Largest image body accepted from a download URL (a realistic 4K PNG is ~50 MB)."""

_STRICT: Final = DownloadPolicy()
_MAX_HOPS: Final = 5
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


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

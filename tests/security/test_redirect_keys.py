"""A key goes only where the route points: a 3xx from the API host is not followed, so
the key never reaches the host it redirects to, on every adapter."""

from __future__ import annotations

import pytest
from aiohttp import web

from imagegate.errors import TransportError

from ._hostile import KEY, KEY_HEADERS, ask, build, image_answer, png_b64, serve

PROVIDERS = ("gemini", "vertex", "openai", "openai_compatible", "flux")


@pytest.mark.parametrize("status", [301, 302, 307, 308])
@pytest.mark.parametrize("provider", PROVIDERS)
async def test_redirect_does_not_carry_the_key(provider: str, status: int) -> None:
    """The API answers with a redirect to another port: nothing (and no key) arrives there."""
    arrived: list[dict[str, str]] = []

    async def elsewhere(request: web.Request) -> web.Response:
        arrived.append(dict(request.headers))
        prefix, suffix = image_answer(provider, f"{request.scheme}://{request.host}")
        return web.Response(body=prefix + png_b64() + suffix, content_type="application/json")

    async with serve(elsewhere, flux=provider == "flux") as other:

        async def api(request: web.Request) -> web.Response:
            return web.Response(status=status, headers={"Location": other + request.path_qs})

        async with serve(api) as url:
            adapter = build(provider, url)
            try:
                with pytest.raises(TransportError, match="redirect") as caught:
                    await adapter.generate(ask(provider))
            finally:
                await adapter.aclose()
    leaked = [h for h in arrived for name in KEY_HEADERS if KEY in h.get(name, "")]
    assert leaked == []
    assert arrived == []  # not even without the key
    assert caught.value.status in (None, status)
    assert KEY not in str(caught.value)

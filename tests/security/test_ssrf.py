"""Image URLs chosen by an upstream are fetched only from https on public addresses (after
DNS resolution, at every redirect hop), the route's own API origin, or what
``download_allow`` lists; nothing reaches a private, loopback or link-local service."""

from __future__ import annotations

import json

import pytest
from aiohttp import web

from imagegate.errors import ConfigurationError, TransportError
from imagegate.testing._images import make_png

from ._hostile import ask, build, serve

URL_PROVIDERS = ("openai", "openai_compatible")


def _url_answer(provider: str, url: str) -> bytes:
    """A 200 answer whose image is a URL, in ``provider``'s wire format."""
    if provider == "openai":
        return json.dumps({"created": 1, "data": [{"url": url}]}).encode()
    message = {"role": "assistant", "images": [{"type": "image_url", "image_url": {"url": url}}]}
    return json.dumps(
        {"id": "g", "choices": [{"finish_reason": "stop", "message": message}]}
    ).encode()


class Internal:
    """A service on 127.0.0.1 that must stay unreachable: it records every hit."""

    def __init__(self) -> None:
        self.hits: list[str] = []

    async def handler(self, request: web.Request) -> web.Response:
        self.hits.append(request.path_qs)
        return web.Response(body=make_png(1024, 1024), content_type="image/png")


@pytest.mark.parametrize("provider", URL_PROVIDERS)
async def test_url_on_a_loopback_service_is_not_fetched(provider: str) -> None:
    """An answer pointing at another local port (plain http, loopback) is refused unfetched."""
    internal = Internal()
    async with serve(internal.handler) as inside:
        target = f"{inside}/latest/meta-data/iam"

        async def api(request: web.Request) -> web.Response:
            return web.Response(body=_url_answer(provider, target), content_type="application/json")

        async with serve(api) as url:
            adapter = build(provider, url)
            try:
                with pytest.raises(TransportError, match="download refused") as caught:
                    await adapter.generate(ask(provider))
            finally:
                await adapter.aclose()
    assert internal.hits == []
    assert caught.value.billing == "billed"  # the image was made; only its URL is refused


@pytest.mark.parametrize(
    "target",
    [
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/image.png",
        "https://[::1]:9/image.png",
        "https://[::ffff:127.0.0.1]:9/image.png",
        "https://localhost:9/image.png",
        "http://192.0.2.1/image.png",
        "file:///etc/passwd",
    ],
)
async def test_private_or_plain_targets_are_refused(target: str) -> None:
    """Link-local, private, loopback (also IPv4-mapped, also by name), plain http and
    non-http URLs are refused before any connection is tried."""

    async def api(request: web.Request) -> web.Response:
        return web.Response(body=_url_answer("openai", target), content_type="application/json")

    async with serve(api) as url:
        adapter = build("openai", url)
        try:
            with pytest.raises(TransportError, match="download refused"):
                await adapter.generate(ask("openai"))
        finally:
            await adapter.aclose()


async def test_flux_sample_redirect_is_checked_at_each_hop() -> None:
    """A sample on the API host that redirects to a loopback service elsewhere is refused
    at the redirect, before the second hop is fetched."""
    internal = Internal()
    async with serve(internal.handler) as inside:

        async def api(request: web.Request) -> web.Response:
            base = f"{request.scheme}://{request.host}"
            if request.method == "POST":
                return web.json_response(
                    {"id": "t1", "cost": 6, "polling_url": f"{base}/v1/get_result?id=t1"}
                )
            if request.path == "/v1/get_result":
                result = {"sample": f"{base}/sample.png"}
                return web.json_response({"id": "t1", "status": "Ready", "result": result})
            raise web.HTTPFound(f"{inside}/latest/meta-data/")

        async with serve(api) as url:
            adapter = build("flux", url)
            try:
                with pytest.raises(TransportError, match="download refused"):
                    await adapter.generate(ask("flux"))
            finally:
                await adapter.aclose()
    assert internal.hits == []


@pytest.mark.parametrize("allow", [["127.0.0.1"], ["127.0.0.0/8"]])
@pytest.mark.parametrize("provider", URL_PROVIDERS)
async def test_download_allow_opens_a_host(provider: str, allow: list[str]) -> None:
    """A host or network in ``download_allow`` may be fetched, over plain http too."""
    internal = Internal()
    async with serve(internal.handler) as inside:

        async def api(request: web.Request) -> web.Response:
            answer = _url_answer(provider, f"{inside}/img.png")
            return web.Response(body=answer, content_type="application/json")

        async with serve(api) as url:
            adapter = build(provider, url, download_allow=allow)
            try:
                response = await adapter.generate(ask(provider))
            finally:
                await adapter.aclose()
    assert internal.hits == ["/img.png"]
    assert response.images[0].width == 1024


@pytest.mark.parametrize("provider", ["openai", "openai_compatible", "flux"])
def test_download_allow_is_validated(provider: str) -> None:
    """``download_allow`` must be a list of strings, not one string."""
    with pytest.raises(ConfigurationError, match="download_allow must be a list"):
        build(provider, "http://127.0.0.1:9", download_allow="127.0.0.1")

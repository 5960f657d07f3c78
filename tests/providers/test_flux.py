"""The `flux` adapter (Black Forest Labs) against the simulator: sizes per model family,
credits, polling, and the guards on the URLs it follows and the sample it downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from imagegate.errors import ConfigurationError, InvalidRequestError, TransportError, UpstreamError
from imagegate.providers import ProviderConfig, registry
from imagegate.providers.flux import FluxProvider
from imagegate.testing._images import make_png
from imagegate.testing.simulator import Simulator

from ._support import ask, sim_config

# No attempt limit: the adapter polls on the simulator's clock, where one real millisecond
# of a loaded machine is ten simulated seconds; timeouts have tests of their own.
ATTEMPT_S = None

SUCCESS = [
    # Ultra renders ~4 MP (2K) for any ratio between 21:9 and 9:21.
    ("flux-pro-1.1-ultra", "2K", "16:9", (2720, 1536)),
    ("flux-pro-1.1-ultra", "2K", "1:1", (2048, 2048)),
    ("flux-pro-1.1-ultra", "2K", "9:21", (1344, 3136)),
    # Pro: width/height in multiples of 32 within 256–1440, ~1 MP.
    ("flux-pro-1.1", "1K", "1:1", (1024, 1024)),
    ("flux-pro-1.1", "1K", "21:9", (1440, 608)),
    ("flux-dev", "1K", "3:4", (896, 1184)),
    # FLUX.2: multiples of 16, up to 4 MP; priced per megapixel.
    ("flux-2-pro", "1K", "1:1", (1024, 1024)),
    ("flux-2-pro", "2K", "1:1", (2000, 2000)),
    ("flux-2-pro", "2K", "16:9", (2656, 1488)),
]


@pytest.mark.parametrize(("model", "size", "ratio", "pixels"), SUCCESS)
async def test_flux_sizes_and_credits(
    make: Any, model: str, size: str, ratio: str, pixels: tuple[int, int]
) -> None:
    """Each model family is sized its own way; the cost comes from the returned credits."""
    adapter = make("flux")
    response = await adapter.generate(
        ask(f"a glacier {ratio} [sim:success]", model, size, ratio, timeout_s=ATTEMPT_S)
    )
    (image,) = response.images
    assert (image.width, image.height) == pixels
    assert image.size == size
    assert image.mime_type == "image/jpeg"
    assert response.size_ignored is False
    credits = response.metadata["cost_credits"]
    assert response.cost_usd == pytest.approx(credits * 0.01)  # 1 credit = $0.01
    list_price = adapter.capabilities(model).price_usd[size]
    assert list_price <= response.cost_usd <= list_price * 1.6  # FLUX.2 bills extra MP


async def test_ultra_at_1k_is_flagged_as_ignored(make: Any) -> None:
    """Ultra cannot render 1K: the 4 MP image comes back flagged ``size_ignored``."""
    adapter = make("flux")
    response = await adapter.generate(
        ask("a small one [sim:success]", "flux-pro-1.1-ultra", "1K", "16:9", timeout_s=ATTEMPT_S)
    )
    assert response.images[0].size == "2K"
    assert response.size_ignored is True


async def test_output_format_png(make: Any) -> None:
    """``output_format="png"`` is sent and a PNG comes back."""
    adapter = make("flux", output_format="png", safety_tolerance=4)
    response = await adapter.generate(
        ask("a png [sim:success]", "flux-pro-1.1", "1K", timeout_s=ATTEMPT_S)
    )
    assert response.images[0].mime_type == "image/png"


async def test_polls_with_growing_intervals() -> None:
    """Polls come ever further apart: far fewer than a fixed first interval would need."""
    async with Simulator("healthy", seed=0, time_scale=0.005) as sim:
        adapter = registry.create(
            "flux", sim_config(sim, "flux", poll_initial_s=0.25, poll_max_s=2.0)
        )
        try:
            before = sim.statistics().requests
            await adapter.generate(
                ask("patience [sim:success~30]", "flux-pro-1.1", timeout_s=ATTEMPT_S)
            )
        finally:
            await adapter.aclose()
        polls = sim.statistics().requests - before - 2  # minus submit and download
    assert 8 <= polls <= 30  # a fixed 0.25 s interval would poll ~120 times in 30 s


async def test_sample_size_cap(make: Any) -> None:
    """A sample larger than ``max_download_bytes`` is refused, as billed."""
    adapter = make("flux", max_download_bytes=2_000)
    with pytest.raises(TransportError, match="cap") as info:
        await adapter.generate(ask("too heavy [sim:success]", "flux-pro-1.1", timeout_s=ATTEMPT_S))
    assert info.value.billing == "billed"


def test_capabilities_per_family() -> None:
    """Tiers and list prices per model; unknown FLUX.2 names size like FLUX.2 pro."""
    flux = FluxProvider(api_key="bfl-test-key-123")
    assert flux.capabilities("flux-pro-1.1").sizes == {"1K"}
    assert flux.capabilities("flux-pro-1.1-ultra").sizes == {"1K", "2K"}
    assert flux.capabilities("flux-pro-1.1-ultra").price_usd == {"1K": 0.06, "2K": 0.06}
    assert flux.capabilities("flux-2-max-preview").price_usd == {"1K": 0.07, "2K": 0.16}
    assert flux.capabilities("flux-2-new").sizes == {"1K", "2K"}
    caps = flux.capabilities("flux-kontext-max")
    assert caps.async_job
    assert caps.supports_seed
    assert caps.max_n == 1
    assert caps.unsupported_reason("1K", "1:3") == "aspect ratio 1:3 not offered"


async def test_unreachable_tier_and_safety_are_refused(sim: Simulator, make: Any) -> None:
    """4K on ultra, or a safety tolerance above FLUX.2's 5, never reach the API."""
    adapter = make("flux", safety_tolerance=6)
    with pytest.raises(InvalidRequestError):
        await adapter.generate(ask("huge", "flux-pro-1.1-ultra", "4K", timeout_s=ATTEMPT_S))
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("lenient", "flux-2-pro", "1K", timeout_s=ATTEMPT_S))
    assert info.value.field == "safety_tolerance"
    assert sim.events == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"safety_tolerance": 9}, "safety_tolerance"),
        ({"output_format": "gif"}, "output_format"),
        ({"raw": "yes"}, "raw must be"),
        ({"poll_initial_s": 0}, "poll_initial_s"),
        ({"clock": "now"}, "clock must have"),
        ({"allowed_hosts": "bfl.example"}, "allowed_hosts"),
        ({"pol_max_s": 1}, "unknown option"),
    ],
)
def test_bad_options(options: dict[str, Any], message: str) -> None:
    """Bad route options fail at construction, before the key is even looked up."""
    with pytest.raises(ConfigurationError, match=message):
        registry.create("flux", ProviderConfig(options=options))


def test_without_key_names_the_env_var() -> None:
    """No key anywhere: ConfigurationError naming BFL_API_KEY."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("flux", ProviderConfig())
    assert info.value.env_var == "BFL_API_KEY"


# -- URLs we follow: a stand-in BFL service that answers with chosen URLs ----------------


Answer = Callable[[str], dict[str, str]]


@pytest.fixture
async def bfl() -> AsyncIterator[Callable[..., Any]]:
    """A stand-in BFL API: submit returns the chosen ``polling_url``, the poll a chosen
    ``sample`` URL, ``/sample`` the chosen body; requests and submit bodies are recorded."""
    seen: list[str] = []
    bodies: list[dict[str, Any]] = []
    setup: dict[str, Any] = {}

    async def submit(request: web.Request) -> web.Response:
        seen.append(f"POST {request.path}")
        bodies.append(await request.json())
        polling = setup["polling_url"].format(base=str(request.url.origin()))
        return web.json_response({"id": "t1", "polling_url": polling, "cost": 4.0})

    async def result(request: web.Request) -> web.Response:
        seen.append(f"GET {request.path}")
        sample = setup["sample"].format(base=str(request.url.origin()))
        return web.json_response({"id": "t1", "status": "Ready", "result": {"sample": sample}})

    async def sample(request: web.Request) -> web.Response:
        seen.append(f"GET {request.path}")
        return web.Response(body=setup["body"], content_type=setup["content_type"])

    app = web.Application()
    app.router.add_post("/v1/{model}", submit)
    app.router.add_get("/v1/get_result", result)
    app.router.add_get("/sample", sample)
    async with TestServer(app) as server:

        def configure(**values: Any) -> tuple[str, list[str]]:
            setup.update(
                polling_url="{base}/v1/get_result?id=t1",
                sample="{base}/sample",
                body=b"<html>not an image</html>",
                content_type="text/html",
            )
            setup.update(values)
            return str(server.make_url("")).rstrip("/"), seen, bodies

        yield configure


@pytest.mark.parametrize(
    "polling_url",
    [
        "https://evil.example/v1/get_result?id=t1",
        "http://api.us1.bfl.ai/v1/get_result?id=t1",  # right host, but the key in clear
        "https://api.bfl.ai.evil.example/v1/get_result?id=t1",
    ],
)
async def test_untrusted_polling_url_is_not_followed(bfl: Any, polling_url: str) -> None:
    """The key is never sent to a polling URL off the base host and off https *.bfl.ai."""
    base, seen, _ = bfl(polling_url=polling_url)
    adapter = FluxProvider(api_key="bfl-test-key-456", base_url=base)
    try:
        with pytest.raises(UpstreamError, match="refusing to follow the polling_url") as info:
            await adapter.generate(ask("x", "flux-pro-1.1"))
    finally:
        await adapter.aclose()
    assert info.value.retryable is False
    assert seen == ["POST /v1/flux-pro-1.1"]


def test_trusted_polling_hosts() -> None:
    """https on bfl.ai and its subdomains, the base host, and allowed hosts are trusted."""
    adapter = FluxProvider(
        api_key="bfl-test-key-789", base_url="http://127.0.0.1:9/bfl", allowed_hosts=["gw.example"]
    )
    for url in (
        "https://api.us1.bfl.ai/v1/get_result?id=1",
        "https://bfl.ai/v1/get_result?id=1",
        "http://127.0.0.1:9/bfl/v1/get_result?id=1",
        "https://gw.example/v1/get_result?id=1",
    ):
        adapter._check_url(url, "flux/m", "1K", key_sent=True)
    with pytest.raises(UpstreamError):
        adapter._check_url("http://127.0.0.1:10/v1/get_result", "flux/m", "1K", key_sent=True)


async def test_sample_must_be_an_image(bfl: Any) -> None:
    """A sample answered with an HTML page is a TransportError, billed (the task ran)."""
    base, seen, _ = bfl()
    adapter = FluxProvider(api_key="bfl-test-key-456", base_url=base)
    try:
        with pytest.raises(TransportError, match="not an image") as info:
            await adapter.generate(ask("x", "flux-pro-1.1"))
    finally:
        await adapter.aclose()
    assert info.value.billing == "billed"
    assert seen == ["POST /v1/flux-pro-1.1", "GET /v1/get_result", "GET /sample"]


async def test_submit_bodies_per_family(bfl: Any) -> None:
    """Ultra gets ``aspect_ratio`` and ``raw``; pro gets ``width``/``height`` and no ``raw``."""
    base, _, bodies = bfl(body=make_png(1024, 1024), content_type="image/png")
    adapter = FluxProvider(
        api_key="bfl-test-key-456", base_url=base, raw=True, safety_tolerance=1, output_format="png"
    )
    try:
        await adapter.generate(ask("u", "flux-pro-1.1-ultra", "2K", "21:9", seed=7))
        await adapter.generate(ask("p", "flux-pro-1.1", "1K", "3:4"))
    finally:
        await adapter.aclose()
    assert bodies == [
        {"prompt": "u", "aspect_ratio": "21:9", "seed": 7, "safety_tolerance": 1,
         "output_format": "png", "raw": True},
        {"prompt": "p", "width": 896, "height": 1184, "safety_tolerance": 1,
         "output_format": "png"},
    ]  # fmt: skip

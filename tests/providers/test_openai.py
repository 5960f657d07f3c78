"""The openai-SDK adapters, `openai` (OpenAI Images) and `openai_compatible` (aggregators),
against the simulator: size tables, response shapes, errors in 200 bodies, options."""

from __future__ import annotations

from typing import Any

import pytest

from imagegate.errors import ConfigurationError, DeadlineExceeded, InvalidRequestError
from imagegate.providers import ProviderConfig, registry
from imagegate.providers.openai import OpenAIProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider
from imagegate.testing.simulator import Simulator

from ._support import ask

OPENAI_SUCCESS = [
    # gpt-image-1.x: three fixed sizes, the closest shape is used.
    ("gpt-image-1.5", "1K", "1:1", (1024, 1024)),
    ("gpt-image-1.5", "1K", "16:9", (1536, 1024)),
    ("gpt-image-1-mini", "1K", "9:16", (1024, 1536)),
    # gpt-image-2: any WxH in multiples of 16 up to 3840 px a side / 8.3 MP.
    ("gpt-image-2", "1K", "16:9", (1360, 768)),
    ("gpt-image-2", "2K", "1:1", (2048, 2048)),
    ("gpt-image-2", "2K", "21:9", (3136, 1344)),
    ("gpt-image-2", "2K", "9:16", (1536, 2736)),
    # dall-e-3: its own three sizes.
    ("dall-e-3", "1K", "16:9", (1792, 1024)),
    ("dall-e-3", "1K", "1:1", (1024, 1024)),
]


@pytest.mark.parametrize(("model", "size", "ratio", "pixels"), OPENAI_SUCCESS)
async def test_openai_sizes(
    make: Any, model: str, size: str, ratio: str, pixels: tuple[int, int]
) -> None:
    """Each model family gets a size from its own table and delivers those pixels."""
    adapter = make("openai")
    response = await adapter.generate(ask(f"a kite {ratio} [sim:success]", model, size, ratio))
    (image,) = response.images
    assert (image.width, image.height) == pixels
    assert image.size == size
    assert response.size_ignored is False
    assert response.cost_usd is not None
    assert response.cost_usd > 0
    assert response.metadata["request_id"]


async def test_openai_list_prices_by_shape_and_quality(make: Any) -> None:
    """The reported cost follows the list price of the shape and quality answered, or the
    answer's token usage where the model's token rates are known (gpt-image-1-mini)."""
    high = make("openai", quality="high")
    square = await high.generate(ask("a square [sim:success]", "gpt-image-1.5"))
    wide = await high.generate(ask("a wide one [sim:success]", "gpt-image-1.5", "1K", "3:2"))
    assert (square.cost_usd, wide.cost_usd) == (0.133, 0.2)
    low = make("openai", quality="low")
    cheap = await low.generate(ask("a cheap one [sim:success]", "gpt-image-1-mini"))
    usage = cheap.metadata["usage"]
    text, out = usage["input_tokens_details"]["text_tokens"], usage["output_tokens"]
    assert cheap.cost_usd == pytest.approx((text * 2.0 + out * 8.0) / 1e6)  # $2 / $8 per 1M
    assert low.capabilities("gpt-image-1-mini").price_usd == {"1K": 0.005}


async def test_openai_several_images(make: Any) -> None:
    """``n`` images in one call are all returned."""
    adapter = make("openai")
    response = await adapter.generate(ask("three cats [sim:success]", "gpt-image-1.5", n=3))
    assert len(response.images) == 3
    # Quality unset: the answer reports the quality used (the simulator's "auto" chose
    # medium here), and each image costs gpt-image-1.5's medium price.
    assert response.metadata.get("quality") in (None, "medium")
    assert response.cost_usd == pytest.approx(3 * 0.034)


async def test_dall_e_url_images_are_downloaded(sim: Simulator, make: Any) -> None:
    """With ``response_format="url"`` the image is fetched from the returned URL."""
    adapter = make("openai", response_format="url")
    before = sim.statistics().requests
    response = await adapter.generate(ask("a url image [sim:success]", "dall-e-3", "1K", "9:16"))
    assert (response.images[0].width, response.images[0].height) == (1024, 1792)
    assert sim.statistics().requests == before + 2  # the call and the download


async def test_openai_unreachable_tiers_are_refused(sim: Simulator, make: Any) -> None:
    """4K is beyond every OpenAI model, 2K beyond fixed-size ones: refused before calling."""
    adapter = make("openai")
    assert adapter.capabilities("gpt-image-1.5").sizes == {"1K"}
    assert adapter.capabilities("gpt-image-2").sizes == {"1K", "2K"}
    assert adapter.capabilities("gpt-image-2.5-flare").sizes == {"1K", "2K"}
    assert adapter.capabilities("dall-e-3").max_n == 1
    for model, size in (("gpt-image-2", "4K"), ("gpt-image-1.5", "2K")):
        with pytest.raises(InvalidRequestError):
            await adapter.generate(ask("too big", model, size))
    with pytest.raises(InvalidRequestError):
        await adapter.generate(ask("hd on gpt-image", "gpt-image-2", "1K", "1:4"))
    assert sim.events == []


async def test_openai_quality_must_suit_the_model(sim: Simulator, make: Any) -> None:
    """A quality the model does not take is refused before calling, naming the field."""
    adapter = make("openai", quality="hd")
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("hd gpt-image", "gpt-image-1.5"))
    assert info.value.field == "quality"
    response = await adapter.generate(ask("hd dall-e [sim:success]", "dall-e-3"))
    assert response.cost_usd == 0.08


async def test_openai_ignored_size_is_flagged(make: Any) -> None:
    """A smaller image than asked for sets ``size_ignored`` (from the decoded pixels)."""
    adapter = make("openai")
    response = await adapter.generate(ask("tiny [sim:size_ignored]", "gpt-image-2", "2K"))
    assert response.size_ignored is True
    assert response.images[0].size == "1K"


def test_openai_without_key_names_the_env_var() -> None:
    """No key anywhere: ConfigurationError naming OPENAI_API_KEY, at construction."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("openai", ProviderConfig())
    assert info.value.env_var == "OPENAI_API_KEY"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"quality": "ultra"}, "quality='ultra'"),
        ({"output_format": "gif"}, "output_format='gif'"),
        ({"qualty": "high"}, "unknown option"),
        ({"max_download_bytes": 0}, "max_download_bytes"),
        ({"price_usd": {"8K": 1.0}}, "price_usd"),
    ],
)
def test_openai_bad_options(options: dict[str, Any], message: str) -> None:
    """Bad route options fail at construction with a clear ConfigurationError."""
    with pytest.raises(ConfigurationError, match=message):
        OpenAIProvider.from_config(ProviderConfig(api_key=None, options=options))


# -- openai_compatible ---------------------------------------------------------------------

AGGREGATOR_SUCCESS = [
    ("chat", "google/gemini-3-pro-image", "1K", "16:9", (1376, 768)),
    ("chat", "nano-banana-pro", "2K", "1:1", (2048, 2048)),
    ("chat", "google/gemini-3-pro-image", "4K", "9:16", (3072, 5504)),
    ("chat", "google/gemini-3.1-flash-image", "2K", "21:9", (3168, 1344)),
    # Images mode asks POST /images for the tier and ratio (OpenRouter's image API).
    ("images", "nano-banana-pro", "1K", "4:3", (1200, 896)),
    ("images", "google/gemini-3-pro-image", "2K", "16:9", (2752, 1536)),
    ("images", "google/gemini-3-pro-image", "4K", "1:1", (4096, 4096)),
]


@pytest.mark.parametrize(("mode", "model", "size", "ratio", "pixels"), AGGREGATOR_SUCCESS)
async def test_aggregator_sizes(
    make: Any, mode: str, model: str, size: str, ratio: str, pixels: tuple[int, int]
) -> None:
    """Both modes deliver the requested tier and ratio; the price comes from usage.cost."""
    adapter = make("openai_compatible", mode=mode)
    response = await adapter.generate(ask(f"a dune {ratio} [sim:success]", model, size, ratio))
    (image,) = response.images
    assert (image.width, image.height) == pixels
    assert image.size == size
    assert response.size_ignored is False
    # usage.cost of the answer (image tokens at Google's per-token price), not a guess
    assert response.cost_usd == pytest.approx(0.24 if size == "4K" else 0.1344, abs=0.001)


async def test_aggregator_error_inside_a_200_body(sim: Simulator, make: Any) -> None:
    """A failure reported in the body of an HTTP 200 is raised, mapped by its code."""
    adapter = make("openai_compatible")
    with pytest.raises(DeadlineExceeded) as info:
        await adapter.generate(ask("late failure [sim:deadline]", "nano-banana-pro", "4K"))
    assert info.value.status == 504
    assert sim.events[-1].status == 200


def test_aggregator_capabilities() -> None:
    """Gemini models (by id or alias) keep their tiers and prices; others get defaults."""
    adapter = OpenAICompatibleProvider(base_url="https://agg.example/v1", api_key="k-123456")
    pro = adapter.capabilities("nano-banana-pro")
    assert pro.sizes == {"1K", "2K", "4K"}
    assert pro.price_usd["4K"] == 0.24
    assert adapter.capabilities("google/gemini-2.5-flash-image").sizes == {"1K"}
    other = adapter.capabilities("black-forest-labs/flux.2-pro")
    assert other.aspect_ratios is None
    assert other.price_usd == {"1K": 0.06, "2K": 0.06, "4K": 0.06}


def test_aggregator_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Missing endpoint or key name their env vars; modes and modalities are checked."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("openai_compatible", ProviderConfig(api_key=None))
    assert info.value.env_var == "OPENAI_COMPATIBLE_BASE_URL"
    base = "https://aggregator.example/v1"
    with pytest.raises(ConfigurationError) as info:
        registry.create(
            "openai_compatible", ProviderConfig(base_url=base, api_key_env="AGGREGATOR_API_KEY")
        )
    assert info.value.env_var == "AGGREGATOR_API_KEY"
    monkeypatch.setenv("AGGREGATOR_API_KEY", "agg-key-from-env")
    for options, message in (
        ({"mode": "stream"}, "mode must be"),
        ({"modalities": ["text"]}, "modalities must list 'image'"),
        ({"modalites": ["image"]}, "unknown option"),
    ):
        config = ProviderConfig(base_url=base, api_key_env="AGGREGATOR_API_KEY", options=options)
        with pytest.raises(ConfigurationError, match=message):
            registry.create("openai_compatible", config)

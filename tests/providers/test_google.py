"""The google-genai adapters, `gemini` (AI Studio) and `vertex`, against the simulator:
sizes and ratios delivered, thought parts, capabilities, credentials and options."""

from __future__ import annotations

from typing import Any

import pytest
from google.oauth2.credentials import Credentials

from imagegate.errors import ConfigurationError, InvalidRequestError
from imagegate.providers import ProviderConfig, registry
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.vertex import VertexProvider
from imagegate.testing.simulator import Simulator

from ._support import ask

# Google's pixel tables: gemini-3 models double per tier; 2.5 Flash Image is 1K only.
SUCCESS = [
    ("gemini-3-pro-image", "1K", "16:9", (1376, 768)),
    ("gemini-3-pro-image", "2K", "1:1", (2048, 2048)),
    ("gemini-3-pro-image", "4K", "16:9", (5504, 3072)),
    ("gemini-3-pro-image-preview", "2K", "3:2", (2528, 1696)),
    ("gemini-3.1-flash-image", "4K", "9:16", (3072, 5504)),
    ("gemini-3.1-flash-image", "1K", "21:9", (1584, 672)),
    ("gemini-2.5-flash-image", "1K", "16:9", (1344, 768)),
    ("gemini-2.5-flash-image", "1K", "3:4", (864, 1184)),
]


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
@pytest.mark.parametrize(("model", "size", "ratio", "pixels"), SUCCESS)
async def test_success_delivers_the_requested_tier_and_ratio(
    make: Any, provider: str, model: str, size: str, ratio: str, pixels: tuple[int, int]
) -> None:
    """Each tier and ratio comes back with the model's real pixel size."""
    adapter = make(provider)
    response = await adapter.generate(
        ask(f"a harbour at {size} {ratio} [sim:success]", model, size, ratio)
    )
    (image,) = response.images
    assert (image.width, image.height) == pixels
    assert image.size == size
    # Gemini 3 image models answer JPEG, 2.5 Flash Image PNG.
    assert image.mime_type == ("image/png" if "2.5" in model else "image/jpeg")
    assert response.size_ignored is False
    assert response.billing == "billed"
    assert response.metadata["finish_reason"] == "STOP"
    assert response.metadata["usage"]["candidates_token_count"] > 0


async def test_thought_images_are_skipped(sim: Simulator, make: Any) -> None:
    """Gemini 3 "thinking" draft images are not returned; only the final image is."""
    adapter = make("gemini")
    response = await adapter.generate(
        ask("a fox, thinking first [sim:success]", "gemini-3-pro-image", "2K")
    )
    assert [(i.width, i.height) for i in response.images] == [(2048, 2048)]
    assert response.metadata["usage"]["thoughts_token_count"] > 0  # there were thoughts


@pytest.mark.parametrize("provider", ["gemini", "vertex"])
async def test_ignored_size_is_flagged_from_the_pixels(make: Any, provider: str) -> None:
    """A smaller image than asked for is returned, with ``size_ignored`` set."""
    adapter = make(provider)
    response = await adapter.generate(
        ask("a bridge [sim:size_ignored]", "gemini-3-pro-image", "4K", "16:9")
    )
    assert response.size_ignored is True
    assert response.images[0].size == "2K"


async def test_unreachable_tier_is_refused_before_calling(sim: Simulator, make: Any) -> None:
    """2.5 Flash Image offers only 1K: 2K is refused without a request, as capabilities say."""
    adapter = make("gemini")
    caps = adapter.capabilities("gemini-2.5-flash-image")
    assert caps.unsupported_reason("2K", "1:1") == "cannot deliver 2K (offers 1K)"
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("too big", "gemini-2.5-flash-image", "2K"))
    assert info.value.field == "size"
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("too wide", "gemini-3-pro-image", "1K", "8:1"))
    assert info.value.field == "aspect_ratio"
    with pytest.raises(InvalidRequestError) as info:
        await adapter.generate(ask("two of them", "gemini-3-pro-image", n=2))
    assert info.value.field == "n"
    assert sim.events == []


def test_capabilities_and_prices() -> None:
    """Known models carry list prices per tier; unknown names get every tier."""
    gemini = GeminiProvider(api_key="test-key-capabilities")
    pro = gemini.capabilities("gemini-3-pro-image")
    assert pro.sizes == {"1K", "2K", "4K"}
    assert pro.price_usd == {"1K": 0.134, "2K": 0.134, "4K": 0.24}
    assert pro.max_n == 1
    assert pro.supports_seed
    assert "16:9" in (pro.aspect_ratios or ())
    assert "8:1" not in (pro.aspect_ratios or ())
    flash = gemini.capabilities("models/gemini-3.1-flash-image-preview")
    assert "8:1" in (flash.aspect_ratios or ())
    assert flash.estimate_cost_usd("4K") == 0.151
    unknown = gemini.capabilities("gemini-nano-banana-9")
    assert unknown.sizes == {"1K", "2K", "4K"}
    assert unknown.price_usd == {"1K": 0.05, "2K": 0.05, "4K": 0.05}
    vertex = VertexProvider(project="p", credentials=Credentials(token="test-token"))
    assert vertex.capabilities("imagen-like-new-model").price_usd["2K"] == 0.08
    negotiated = GeminiProvider(api_key="test-key-capabilities", price_usd={"1K": 0.03})
    assert negotiated.capabilities("gemini-3-pro-image").price_usd == {"1K": 0.03}


async def test_gemini_key_from_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``api_key``, GEMINI_API_KEY (then GOOGLE_API_KEY) is used."""
    monkeypatch.setenv("GOOGLE_API_KEY", sim.api_key("gemini"))
    adapter = registry.create("gemini", ProviderConfig(base_url=sim.base_url("gemini")))
    try:
        response = await adapter.generate(ask("from env [sim:success]", "gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    assert response.images[0].size == "1K"


def test_gemini_without_key_names_the_env_var() -> None:
    """No key anywhere: ConfigurationError naming GEMINI_API_KEY, at construction."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("gemini", ProviderConfig())
    assert info.value.env_var == "GEMINI_API_KEY"
    assert "GEMINI_API_KEY" in str(info.value)
    assert "GOOGLE_API_KEY" in str(info.value)


def test_custom_key_env_var_is_named() -> None:
    """A route's ``api_key_env`` replaces the default variables, in errors too."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("gemini", ProviderConfig(api_key_env="TEAM_GEMINI_KEY"))
    assert info.value.env_var == "TEAM_GEMINI_KEY"


async def test_vertex_express_mode(sim: Simulator, make: Any) -> None:
    """An API key without a project selects Vertex express mode."""
    adapter = make("vertex", express=True)
    assert "express mode" in repr(adapter)
    response = await adapter.generate(
        ask("express [sim:success]", "gemini-3-pro-image", "2K", "4:3")
    )
    assert response.images[0].size == "2K"
    assert sim.events[-1].provider == "vertex"


async def test_vertex_project_from_the_environment(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """GOOGLE_CLOUD_PROJECT and GOOGLE_CLOUD_LOCATION are read; location defaults to global."""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "env-project")
    token = Credentials(token=sim.api_key("vertex"))
    adapter = VertexProvider(credentials=token, base_url=sim.base_url("vertex"))
    try:
        assert "project='env-project', location='global'" in repr(adapter)
        response = await adapter.generate(ask("env project [sim:success]", "gemini-3-pro-image"))
    finally:
        await adapter.aclose()
    assert response.images[0].size == "1K"
    monkeypatch.setenv("GOOGLE_CLOUD_LOCATION", "us-central1")
    regional = VertexProvider(credentials=token)
    assert "location='us-central1'" in repr(regional)
    await regional.aclose()


def test_vertex_without_project_names_the_env_var() -> None:
    """No project and no key: ConfigurationError naming GOOGLE_CLOUD_PROJECT."""
    with pytest.raises(ConfigurationError) as info:
        registry.create("vertex", ProviderConfig())
    assert info.value.env_var == "GOOGLE_CLOUD_PROJECT"


def test_vertex_without_credentials_names_adc(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """A project but no usable Application Default Credentials: a clear error."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigurationError) as info:
        registry.create("vertex", ProviderConfig(options={"project": "p"}))
    assert info.value.env_var == "GOOGLE_APPLICATION_CREDENTIALS"
    assert "gcloud auth application-default login" in str(info.value)


@pytest.mark.parametrize(
    ("provider", "options", "message"),
    [
        ("gemini", {"api_versoin": "v1"}, "unknown option(s) 'api_versoin'"),
        ("gemini", {"price_usd": -1}, "price_usd must be"),
        ("vertex", {"project": "p", "credentials": "a-token"}, "credentials must be"),
        ("vertex", {"project": ""}, "project must be a non-empty string"),
    ],
)
def test_bad_options_are_configuration_errors(
    provider: str, options: dict[str, Any], message: str
) -> None:
    """Typos and wrong types in route options fail at construction, clearly."""
    config = ProviderConfig(api_key=None, options=options)
    if provider == "gemini":
        config = ProviderConfig(api_key=None, api_key_env="SOME_KEY", options=options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SOME_KEY", "a-configured-key")
        with pytest.raises(
            ConfigurationError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            registry.create(provider, config)

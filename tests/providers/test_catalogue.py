"""The model catalogue: the shipped file, overriding it, refusing a bad one, and model
lifecycles judged when a router opens."""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from _logcapture import captured_events
from imagegate import Route, Router
from imagegate.errors import ConfigurationError
from imagegate.providers import _catalogue, _lifecycle
from imagegate.providers.catalogue import (
    CATALOGUE_ENV_VAR,
    TODAY_ENV_VAR,
    Catalogue,
    ModelDeprecatedWarning,
    active_catalogue,
    load_catalogue,
    shipped_catalogue,
    use_catalogue,
)
from imagegate.providers.gemini import GeminiProvider
from imagegate.providers.openai_compatible import OpenAICompatibleProvider

GEMINI_LINEUP = (
    "gemini-3-pro-image",
    "gemini-3.1-flash-image",
    "gemini-3.1-flash-lite-image",
    "gemini-nano-banana-2.1",
    "gemini-2.5-flash-image",
)


@pytest.fixture(autouse=True)
def _fresh_catalogue(monkeypatch: pytest.MonkeyPatch) -> None:
    """No catalogue chosen in code, and no model warned about yet (both restored after)."""
    monkeypatch.setattr(_lifecycle, "_warned", set())
    monkeypatch.setattr(_catalogue, "_chosen", None)


@pytest.fixture
async def gemini() -> AsyncIterator[GeminiProvider]:
    """A Gemini adapter (capabilities only: nothing is sent)."""
    adapter = GeminiProvider(api_key="test-key")
    yield adapter
    await adapter.aclose()


def write(tmp_path: Path, text: str) -> Path:
    """A catalogue file holding ``text``."""
    path = tmp_path / "catalogue.toml"
    path.write_text(text, encoding="utf-8")
    return path


# -- the shipped catalogue ----------------------------------------------------------


def test_every_entry_says_where_its_facts_come_from() -> None:
    """Each entry cites a source, or says in its notes that the record does not show it."""
    for entry in shipped_catalogue().entries:
        assert entry.sources or "not re-found" in entry.notes, entry.id
        for source in entry.sources:
            assert source.url.startswith("https://"), entry.id


def test_the_gemini_lineup_is_listed() -> None:
    """The Gemini image models of the changelog, each with sizes and ratios."""
    catalogue = shipped_catalogue()
    for model in GEMINI_LINEUP:
        entry = catalogue.get(model, "google")
        assert entry is not None
        assert entry.id == model
        assert entry.sizes
        assert entry.aspect_ratios


def test_pro_prices_1k_and_2k_alike_4k_more_and_batch_at_half() -> None:
    """Nano Banana Pro: $0.134 at 1K and 2K, $0.24 at 4K; batch half of each."""
    pro = shipped_catalogue().get("gemini-3-pro-image", "google")
    assert pro is not None
    assert pro.price_usd == {"1K": 0.134, "2K": 0.134, "4K": 0.24}
    assert pro.batch_price_usd == {k: v / 2 for k, v in pro.price_usd.items()}


def test_the_512_tier_is_listed_but_not_requested(gemini: GeminiProvider) -> None:
    """3.1 Flash Image lists 512 and the extreme ratios; imagegate offers 1K–4K only."""
    flash = shipped_catalogue().get("gemini-3.1-flash-image", "google")
    assert flash is not None
    assert flash.sizes == ("512", "1K", "2K", "4K")
    assert {"1:4", "4:1", "1:8", "8:1"} <= (flash.aspect_ratios or set())
    caps = gemini.capabilities("gemini-3.1-flash-image")
    assert caps.sizes == {"1K", "2K", "4K"}
    assert caps.price_usd == {"1K": 0.067, "2K": 0.101, "4K": 0.151}


def test_previews_and_dated_names_find_their_own_entry() -> None:
    """A preview has its own lifecycle; vendor prefixes, ``models/`` and aliases resolve."""
    catalogue = shipped_catalogue()
    preview = catalogue.get("models/gemini-3-pro-image-preview", "google")
    assert preview is not None
    assert preview.lifecycle.shutdown == dt.date(2026, 6, 25)
    assert preview.price_usd == {"1K": 0.134, "2K": 0.134, "4K": 0.24}  # from its GA entry
    alias = catalogue.get("google/nano-banana-2", "google")
    assert alias is not None
    assert alias.id == "gemini-3.1-flash-image"
    dated = catalogue.get("gpt-image-1.5-2025-12-16", "openai")
    assert dated is not None
    assert dated.id == "gpt-image-1.5"


def test_a_tier_without_a_list_price_is_estimated_at_the_platform_price(
    tmp_path: Path, gemini: GeminiProvider
) -> None:
    """An entry that leaves a price out (the record lacks it) gets the platform default."""
    use_catalogue(write(tmp_path, _NO_PRICE))
    assert gemini.capabilities("gemini-8-image").price_usd == {"1K": 0.05}


_NO_PRICE = """
schema_version = 1
[[model]]
id = "gemini-8-image"
family = "google"
sizes = ["1K"]
aspect_ratios = ["1:1"]
notes = "price not in the record"
"""


# -- overriding it ------------------------------------------------------------------

_OVERRIDE = """
schema_version = 1
[[model]]
id = "gemini-3-pro-image"
family = "google"
sizes = ["1K", "2K", "4K"]
aspect_ratios = ["1:1"]
price_usd = { "1K" = 0.1, "2K" = 0.1, "4K" = 0.2 }

[[model]]
id = "gemini-9-image"
family = "google"
sizes = ["1K"]
aspect_ratios = ["1:1"]
price_usd = { "1K" = 0.01 }
"""


async def test_the_env_var_overrides_and_extends_the_shipped_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gemini: GeminiProvider
) -> None:
    """IMAGEGATE_CATALOGUE's entries replace shipped ones of the same id and add new ones;
    the others stay."""
    monkeypatch.setenv(CATALOGUE_ENV_VAR, str(write(tmp_path, _OVERRIDE)))
    assert gemini.capabilities("gemini-3-pro-image").price_usd["4K"] == 0.2
    assert gemini.capabilities("gemini-9-image").price_usd == {"1K": 0.01}
    assert gemini.capabilities("gemini-3.1-flash-image").price_usd["1K"] == 0.067
    aggregator = OpenAICompatibleProvider(api_key="k", base_url="http://127.0.0.1:9/v1")
    try:
        assert aggregator.capabilities("google/gemini-9-image").sizes == {"1K"}
    finally:
        await aggregator.aclose()


def test_use_catalogue_wins_over_the_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gemini: GeminiProvider
) -> None:
    """A catalogue chosen in code wins; None goes back to the variable."""
    monkeypatch.setenv(CATALOGUE_ENV_VAR, str(write(tmp_path, _OVERRIDE)))
    chosen = use_catalogue(shipped_catalogue())
    assert active_catalogue() is chosen
    assert gemini.capabilities("gemini-3-pro-image").price_usd["4K"] == 0.24
    use_catalogue(None)
    assert gemini.capabilities("gemini-3-pro-image").price_usd["4K"] == 0.2


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('schema_version = 1\n[[model]]\nid = "m"\nfamily = "google"\n'
         'price_usd = { "1K" = "cheap" }\n', "model[0].price_usd.1K"),
        ('schema_version = 1\n[[model]]\nid = "m"\nfamily = "google"\nprise = 1\n',
         "model[0].prise"),
        ('schema_version = 1\n[[model]]\nid = "m"\nfamily = "google"\n'
         'price_usd = { "1K" = -1.0 }\n', "model[0].price_usd.1K"),
        ('schema_version = 1\n[[model]]\nid = "m"\nfamily = "google"\n'
         'lifecycle = { shutdown = "soon" }\n', "model[0].lifecycle.shutdown"),
        ('schema_version = 2\n', "schema_version"),
        ('schema_version = 1\n[[model]]\nid = "m"\nlike = "nothing"\n', "'nothing'"),
        ('schema_version = 1\n[[model]]\nid = "m"\n', "no family"),
        ("schema_version = [\n", "not valid TOML"),
    ],
)  # fmt: skip
def test_a_bad_file_is_refused_naming_the_key(tmp_path: Path, text: str, named: str) -> None:
    """Every mistake is a ConfigurationError naming the file and the key at fault."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigurationError) as caught:
        load_catalogue(path)
    assert str(path) in str(caught.value)
    assert named in str(caught.value)


def test_a_missing_file_named_by_the_env_var_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo in IMAGEGATE_CATALOGUE fails loudly instead of using the shipped prices."""
    monkeypatch.setenv(CATALOGUE_ENV_VAR, str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigurationError, match="cannot read it"):
        active_catalogue()


def test_a_catalogue_built_in_code_resolves_like() -> None:
    """`Catalogue` takes entries directly; ``like`` copies what an entry leaves out."""
    catalogue = Catalogue(shipped_catalogue().entries)
    assert repr(catalogue).startswith("Catalogue(")
    assert catalogue.get("dall-e-3", "openai") is not None
    assert catalogue.get("dall-e-3", "google") is None


# -- lifecycle when a router opens ----------------------------------------------------


def openai_route(model: str) -> Route:
    """A route that builds without a network (nothing is sent before a request)."""
    return Route("openai", model=model, api_key="sk-test", base_url="http://127.0.0.1:9/v1")


async def test_a_shut_down_model_fails_to_open_naming_date_and_successor() -> None:
    """dall-e-3 was shut down on 2026-05-12: the router refuses to open on it."""
    router = Router([openai_route("dall-e-3")], today=dt.date(2026, 12, 6))
    with pytest.raises(ConfigurationError) as caught:
        await router.open()
    message = str(caught.value)
    assert "2026-05-12" in message
    assert "'gpt-image-1'" in message
    assert "openai/dall-e-3" in message


async def test_a_deprecated_model_warns_once_with_date_and_successor() -> None:
    """gpt-image-1.5 after its notice: a FutureWarning and a log event, the first time."""
    today = dt.date(2026, 7, 1)
    with captured_events() as logs, pytest.warns(ModelDeprecatedWarning, match="2026-12-01"):
        async with Router([openai_route("gpt-image-1.5")], today=today):
            pass
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["model.deprecated"]
    event = next(e for e in logs if e["event"] == "model.deprecated")
    assert (event["shutdown"], event["successor"]) == ("2026-12-01", "gpt-image-2.6-sunburst")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with Router([openai_route("gpt-image-1.5")], today=today):
            pass


async def test_today_comes_from_the_env_var_when_not_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Without ``today=`` the router reads IMAGEGATE_TODAY (the suite pins one)."""
    monkeypatch.setenv(TODAY_ENV_VAR, "2026-12-02")
    with pytest.raises(ConfigurationError, match="2026-12-01"):
        await Router([openai_route("gpt-image-1-mini")]).open()
    monkeypatch.setenv(TODAY_ENV_VAR, "last tuesday")
    with pytest.raises(ConfigurationError, match=TODAY_ENV_VAR):
        await Router([openai_route("gpt-image-1-mini")]).open()


async def test_before_the_notice_a_model_opens_quietly() -> None:
    """The same model on a date before its notice: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        async with Router([openai_route("gpt-image-1-mini")], today=dt.date(2026, 5, 1)):
            pass


async def test_a_preview_replaced_by_its_ga_release_is_refused() -> None:
    """gemini-3-pro-image-preview shut down on 2026-06-25; the GA model is current."""
    preview = Route("gemini", model="gemini-3-pro-image-preview", api_key="k")
    with pytest.raises(ConfigurationError, match="'gemini-3-pro-image'"):
        await Router([preview], today=dt.date(2026, 12, 6)).open()
    ga = Route("gemini", model="gemini-3-pro-image", api_key="k")
    async with Router([ga], today=dt.date(2026, 12, 6)):
        pass


async def test_vertex_routes_are_not_judged_on_the_gemini_api_dates() -> None:
    """Vertex AI retires models on its own schedule, which the catalogue does not hold."""
    assert _lifecycle.find_entry("vertex", "gemini-3-pro-image-preview") is None
    assert _lifecycle.find_entry("openai_compatible", "google/gemini-3-pro-image-preview")


async def test_the_date_can_come_from_a_configuration_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``today`` is a router setting like any other (a TOML date in a file)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    route = {"provider": "openai", "model": "dall-e-2", "base_url": "http://127.0.0.1:9/v1"}
    router = Router.from_config({"today": dt.date(2026, 12, 6), "routes": [route]})
    with pytest.raises(ConfigurationError, match="gpt-image-1-mini"):
        await router.open()


async def test_an_aggregator_route_is_judged_by_the_model_it_names() -> None:
    """``google/gemini-2.5-flash-image`` through an aggregator: shut down on 2026-10-02."""
    route = Route(
        "openai_compatible",
        model="google/gemini-2.5-flash-image",
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
    )
    with pytest.raises(ConfigurationError, match=r"2026-10-02"):
        await Router([route], today=dt.date(2026, 12, 6)).open()


async def test_a_deprecation_without_an_announced_shutdown_warns_and_opens() -> None:
    """Google deprecated ``gemini-3.1-flash-image`` without announcing a shutdown date: a
    shutdown reported only by third parties does not stop a route from opening."""
    route = Route(
        "openai_compatible",
        model="google/gemini-3.1-flash-image",
        api_key="k",
        base_url="http://127.0.0.1:9/v1",
    )
    router = Router([route], today=dt.date(2026, 12, 6))
    with pytest.warns(FutureWarning, match=r"gemini-nano-banana-2\.1"):
        await router.open()
    await router.aclose()

"""What every contender faces: the route set, the prices, the endpoints and the requests.

The route set: three platforms serving the same model as primaries — AI Studio
(``gemini``), an OpenAI-compatible aggregator and Vertex AI — and two other models as
backups, OpenAI gpt-image and Flux ultra::

    gemini/gemini-3-pro-image                      primary  $0.05  1K 2K 4K
    openai_compatible/google/gemini-3-pro-image    primary  $0.06  1K 2K 4K
    vertex/gemini-3-pro-image                      primary  $0.08  1K 2K 4K
    openai/gpt-image-1.5        (medium quality)   backup   $0.034 1K
    flux/flux-pro-1.1-ultra                        backup   $0.06  2K (always ~4 MP)

Prices are per image, flat across tiers (the platforms' reported prices; gpt-image-1.5's
list price at medium quality). Every cost figure of the benchmark, for every contender,
comes from this table applied to the simulator's own record of what it billed, so
contenders are priced alike whatever their clients believe.

An `Endpoint` says where a provider is reached (the simulator, or the real service with
keys from the environment in ``--live`` mode); a `BenchEnv` bundles the endpoints with the
clock, the seed and the load so that contenders can build their clients.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from imagegate._request import SIZES, Size, size_rank
from imagegate._result import GeneratedImage
from imagegate._route import Route
from imagegate.errors import ConfigurationError
from imagegate.resilience.clock import Clock
from imagegate.testing._images import make_png

if TYPE_CHECKING:
    from google import genai

    from imagegate.testing.simulator import Simulator

__all__ = [
    "DEFAULT_DEADLINE_S",
    "DEFAULT_ROUTES",
    "SIM_PROJECT",
    "BenchEnv",
    "BenchRequest",
    "Endpoint",
    "RouteSpec",
    "ladder",
    "make_requests",
    "sim_env",
]

DEFAULT_DEADLINE_S: Final = 600.0
"""Every request of every contender gets the same deadline (simulated seconds)."""

SIM_PROJECT: Final = "sim-project"
"""The Google Cloud project name used against the simulator's Vertex AI."""

_ALL_TIERS: Final[Mapping[Size, Size]] = {"1K": "1K", "2K": "2K", "4K": "4K"}


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One route of the benchmark, independent of any client library.

    Attributes:
        provider: The imagegate provider name (``"gemini"`` …), also the simulator's.
        model: The model id on that provider.
        backup: A different model, acceptable only when no primary delivers.
        price_usd: Price per image (see the module docstring).
        tiers: Tier asked → tier the provider really renders (and the simulator plans):
            Flux ultra always renders ~4 MP, so asking it for 1K yields 2K; tiers the
            model cannot reach are absent.
        options: Extra route options for imagegate (``quality`` …).
    """

    provider: str
    model: str
    backup: bool
    price_usd: float
    tiers: Mapping[Size, Size]
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``provider/model``, as imagegate names routes."""
        return f"{self.provider}/{self.model}"


DEFAULT_ROUTES: Final[tuple[RouteSpec, ...]] = (
    RouteSpec("gemini", "gemini-3-pro-image", False, 0.05, _ALL_TIERS),
    RouteSpec("openai_compatible", "google/gemini-3-pro-image", False, 0.06, _ALL_TIERS),
    RouteSpec("vertex", "gemini-3-pro-image", False, 0.08, _ALL_TIERS),
    RouteSpec("openai", "gpt-image-1.5", True, 0.034, {"1K": "1K"}, {"quality": "medium"}),
    RouteSpec("flux", "flux-pro-1.1-ultra", True, 0.06, {"1K": "2K", "2K": "2K"}),
)
"""The route set: three primaries for gemini-3-pro-image, two backup models."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where one provider is reached.

    Attributes:
        provider: The provider name.
        base_url: The endpoint; None for the provider's public default.
        api_key: The key (Vertex: the OAuth bearer token), or None to use ambient
            credentials (Application Default Credentials for Vertex).
        project: Vertex AI project.
        location: Vertex AI location.
    """

    provider: str
    base_url: str | None
    api_key: str | None
    project: str | None = None
    location: str | None = None

    def __repr__(self) -> str:
        key = "set" if self.api_key else "none"
        return f"Endpoint({self.provider!r}, base_url={self.base_url!r}, api_key={key})"


@dataclass(frozen=True, slots=True)
class BenchRequest:
    """One request of a benchmark run; every contender gets the same list.

    Attributes:
        index: Position in the run.
        prompt: Unique per request, so the simulator's outcomes are independent draws.
        size: The tier asked for.
        aspect_ratio: ``"W:H"``.
        deadline_s: What the whole request may take, in clock seconds.
        images: Input images (an edit); the same objects in every request of a run.
    """

    index: int
    prompt: str
    size: Size
    aspect_ratio: str = "1:1"
    deadline_s: float = DEFAULT_DEADLINE_S
    images: tuple[GeneratedImage, ...] = ()


_SUBJECTS: Final = (
    "a lighthouse at dusk",
    "a fox in fresh snow",
    "a tram on a rainy street",
    "a bowl of ramen, top view",
    "a glass greenhouse at noon",
    "a paper boat on a pond",
    "a mountain hut under stars",
    "a robot watering tomatoes",
    "an old map of an island",
    "a market stall of lemons",
    "a violin on a velvet chair",
    "a heron at sunrise",
)


def make_requests(
    count: int,
    *,
    size: Size = "4K",
    aspect_ratio: str = "1:1",
    deadline_s: float = DEFAULT_DEADLINE_S,
    seed: int = 0,
    input_images: int = 0,
) -> list[BenchRequest]:
    """``count`` requests with distinct prompts (the seed is part of each prompt); with
    ``input_images``, each an edit of that many 512×512 PNGs (shared by every request)."""
    images = tuple(GeneratedImage(make_png(512, 512, seed=k)) for k in range(input_images))
    return [
        BenchRequest(
            index=i,
            prompt=f"bench s{seed} #{i:05d}: {_SUBJECTS[i % len(_SUBJECTS)]}",
            size=size,
            aspect_ratio=aspect_ratio,
            deadline_s=deadline_s,
            images=images,
        )
        for i in range(count)
    ]


def ladder(size: Size) -> tuple[Size, ...]:
    """The requested tier and every smaller one, largest first (``4K`` → 4K, 2K, 1K)."""
    return tuple(s for s in reversed(SIZES) if size_rank(s) <= size_rank(size))


@dataclass(slots=True)
class BenchEnv:
    """What a contender needs to build its clients for one run.

    Attributes:
        clock: The clock all latencies are read from (the simulator's scaled clock, or
            the loop clock live).
        time_scale: Real seconds per clock second (1.0 live); libraries that sleep in
            real time (LiteLLM) are scaled with it.
        routes: The routes available (live: only those with keys).
        endpoints: Where each provider of ``routes`` is reached.
        seed: Seeds every random choice a contender makes.
        concurrency: Requests in flight at once in this run.
        budget_usd: A spending cap for live runs; None in the simulator.
        live: True against real providers.
        deadline_s: The deadline of every request (clock seconds).
        size: The tier the run's requests ask for (clients may prepare for it).
        aspect_ratio: The ratio they ask for.
        virtual: The clock is virtual (simulated time passes only while every task
            waits): a library's own real-time timers stand for no simulated time.
    """

    clock: Clock
    time_scale: float
    routes: tuple[RouteSpec, ...]
    endpoints: Mapping[str, Endpoint]
    seed: int = 0
    concurrency: int = 32
    budget_usd: float | None = None
    live: bool = False
    deadline_s: float = DEFAULT_DEADLINE_S
    size: Size = "4K"
    aspect_ratio: str = "1:1"
    virtual: bool = False

    def endpoint(self, provider: str) -> Endpoint:
        """The endpoint of ``provider``.

        Raises:
            ConfigurationError: the provider is not configured for this run.
        """
        try:
            return self.endpoints[provider]
        except KeyError:
            raise ConfigurationError(f"bench: no endpoint for provider {provider!r}") from None

    def route(self, provider: str) -> RouteSpec | None:
        """The first route on ``provider``, or None."""
        return next((r for r in self.routes if r.provider == provider), None)

    def price_usd(self, provider: str, model: str) -> float:
        """The benchmark's price of one image on (provider, model); 0 when unknown."""
        for spec in self.routes:
            if spec.provider == provider and spec.model == model:
                return spec.price_usd
        return 0.0

    def imagegate_routes(self) -> list[Route]:
        """The route set as imagegate `Route` objects, prices included."""
        return [imagegate_route(spec, self.endpoint(spec.provider)) for spec in self.routes]


def imagegate_route(spec: RouteSpec, endpoint: Endpoint) -> Route:
    """An imagegate `Route` for ``spec`` reached at ``endpoint``."""
    options: dict[str, Any] = {"price_usd": spec.price_usd, **spec.options}
    api_key = endpoint.api_key
    if spec.provider == "vertex":
        options["location"] = endpoint.location or "global"
        if endpoint.project:
            options["project"] = endpoint.project
        if api_key is not None:
            # Project mode with a fixed OAuth token (never refreshed: works offline).
            from google.oauth2.credentials import Credentials

            options["credentials"] = Credentials(token=api_key)  # type: ignore[no-untyped-call]
            api_key = None
    return Route(
        spec.provider,
        model=spec.model,
        base_url=endpoint.base_url,
        api_key=api_key,
        backup=spec.backup,
        **options,
    )


def sim_env(
    sim: Simulator,
    *,
    routes: Sequence[RouteSpec] = DEFAULT_ROUTES,
    seed: int = 0,
    concurrency: int = 32,
    deadline_s: float = DEFAULT_DEADLINE_S,
    size: Size = "4K",
    aspect_ratio: str = "1:1",
    virtual: bool = False,
) -> BenchEnv:
    """A `BenchEnv` pointing every route at a running simulator, on its clock."""
    endpoints = {}
    for spec in routes:
        provider = spec.provider
        endpoints[provider] = Endpoint(
            provider,
            sim.base_url(provider),
            sim.api_key(provider),
            project=SIM_PROJECT if provider == "vertex" else None,
            location="global" if provider == "vertex" else None,
        )
    return BenchEnv(
        clock=sim.clock,
        time_scale=sim.time_scale,
        routes=tuple(routes),
        endpoints=endpoints,
        seed=seed,
        concurrency=concurrency,
        deadline_s=deadline_s,
        size=size,
        aspect_ratio=aspect_ratio,
        virtual=virtual,
    )


def raw_gemini_client(base_url: str | None, api_key: str | None) -> genai.Client:
    """A google-genai client for AI Studio at ``base_url`` with the SDK's retries off
    (``HttpRetryOptions(attempts=1)`` also removes its hidden reconnect retry), as the
    field's client code and the raw-SDK measurements use it."""
    from google import genai as google_genai
    from google.genai import types

    return google_genai.Client(
        vertexai=False,
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=base_url, retry_options=types.HttpRetryOptions(attempts=1)
        ),
    )

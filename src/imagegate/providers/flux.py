"""`flux`: Black Forest Labs FLUX on its asynchronous REST API, over one aiohttp session.

A call is three steps, all within the attempt's time:

1. **Submit** ``POST {base_url}/v1/{model}`` with the ``x-key`` header → ``{id,
   polling_url, cost}`` (``cost`` in credits, 1 credit = $0.01).
2. **Poll** the returned ``polling_url`` (never built by us) with growing intervals until
   ``Ready``. The key goes with each poll, so the URL must be on the configured base host,
   or https on ``bfl.ai`` or one of its subdomains (or a host in ``allowed_hosts``).
3. **Download** ``result.sample``, a signed URL valid for about ten minutes, without the
   key, with a size cap and a content-type check, from https on a public address or the
   base host (each redirect hop checked again), or a host in ``download_allow``.

Pro models take ``width``/``height`` (multiples of 32 within 256–1440, so ~1 MP at most
2 MP: 1K only); FLUX.2 takes ``width``/``height`` up to 4 MP (1K and 2K); ultra and
kontext take ``aspect_ratio`` (ultra always renders ~4 MP, i.e. 2K).

Credentials: ``api_key=`` or ``BFL_API_KEY``. Route options: ``safety_tolerance``,
``output_format``, ``raw`` (ultra), ``prompt_upsampling``, ``price_usd``,
``max_download_bytes``, ``max_response_bytes`` (API answers), ``poll_initial_s``,
``poll_max_s``, ``allowed_hosts``, ``download_allow`` and ``clock`` (polls sleep on it;
share the simulator's clock in tests).

Mapping: submit 402 → QuotaExhausted; 429 → RateLimited; 401/403 → AuthenticationError;
422/400 → InvalidRequestError; 503 → Overloaded; other 5xx → UpstreamError; HTML →
TransportError. After submit: ``Request Moderated`` → ContentBlocked(stage="prompt"),
``Content Moderated`` → ContentBlocked(stage="output"), ``Error`` / ``Task not found`` →
UpstreamError, still ``Pending`` at the end of the attempt → DeadlineExceeded; all of
them possibly billed (the task was accepted and priced at submit). An API answer larger
than ``max_response_bytes`` or a redirect (the key is never sent on) → TransportError.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import aiohttp
from pydantic import SecretStr

from imagegate._logging import get_logger
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._redact import register_secret
from imagegate._request import Size, parse_aspect_ratio, pixels_for
from imagegate._sanitize import detaching
from imagegate.errors import (
    Billing,
    ConfigurationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    ProviderError,
    TransportError,
    UpstreamError,
)
from imagegate.providers._download import DEFAULT_MAX_DOWNLOAD_BYTES, download_image
from imagegate.providers._guard import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AnswerRefused,
    DownloadPolicy,
    RedirectRefused,
    read_capped,
)
from imagegate.providers._http_status import map_status
from imagegate.providers._options import check_options
from imagegate.providers._preflight import refuse_unsupported
from imagegate.providers._prices import parse_price_option, reported_cost_usd
from imagegate.providers._registry import ProviderConfig
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error
from imagegate.resilience.clock import Clock, LoopClock

__all__ = [
    "DEFAULT_BASE_URL",
    "ENV_VAR",
    "FLUX_RATIOS",
    "KNOWN_MODELS",
    "FluxModel",
    "FluxProvider",
]

ENV_VAR: Final = "BFL_API_KEY"
DEFAULT_BASE_URL: Final = "https://api.bfl.ai"
CREDIT_USD: Final = 0.01

# -- known models -------------------------------------------------------------------

FLUX_RATIOS: Final = frozenset(
    {"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "9:21", "1:2", "2:1"}
)
"""Ratios every model reaches at its tiers (ultra and kontext: 21:9 … 9:21; pro models
keep ≥ 0.7 MP within 256–1440 px a side)."""

Geometry = Literal["pixels32", "pixels16", "ratio"]


@dataclass(frozen=True, slots=True)
class FluxModel:
    """How one FLUX model is sized and priced.

    Attributes:
        geometry: ``pixels32`` (``width``/``height``, multiples of 32, 256–1440),
            ``pixels16`` (FLUX.2: multiples of 16, up to 4 MP) or ``ratio``
            (``aspect_ratio`` only).
        sizes: Tiers it can deliver.
        price_usd: List price per image per tier (1 credit = $0.01).
        max_safety: Highest ``safety_tolerance`` accepted.
    """

    geometry: Geometry
    sizes: tuple[Size, ...]
    price_usd: Mapping[Size, float]
    max_safety: int = 6


def _flux2(first_mp: float, extra_mp: float) -> FluxModel:
    # 2K renders at 4 MP: the first megapixel plus three more.
    return FluxModel("pixels16", ("1K", "2K"), {"1K": first_mp, "2K": first_mp + 3 * extra_mp}, 5)


# Public list prices (docs.bfl.ai pricing); the longest matching prefix wins, so
# "-preview" and "-finetuned" variants share their model's entry.
KNOWN_MODELS: Final[Mapping[str, FluxModel]] = {
    "flux-pro-1.1-ultra": FluxModel("ratio", ("1K", "2K"), {"1K": 0.06, "2K": 0.06}),
    "flux-pro-1.1": FluxModel("pixels32", ("1K",), {"1K": 0.04}),
    "flux-pro": FluxModel("pixels32", ("1K",), {"1K": 0.05}),
    "flux-dev": FluxModel("pixels32", ("1K",), {"1K": 0.025}),
    "flux-kontext-pro": FluxModel("ratio", ("1K",), {"1K": 0.04}),
    "flux-kontext-max": FluxModel("ratio", ("1K",), {"1K": 0.08}),
    "flux-2-pro": _flux2(0.03, 0.015),
    "flux-2-max": _flux2(0.07, 0.03),
    "flux-2-flex": _flux2(0.05, 0.05),
    "flux-2-klein-4b": _flux2(0.014, 0.001),
    "flux-2-klein-9b": _flux2(0.015, 0.002),
}

# -- mapping tables -----------------------------------------------------------------

_PENDING: Final = frozenset({"Pending", "Queued", "Processing"})
_PRO_MIN, _PRO_MAX = 256, 1440
_FLUX2_MAX_PIXELS: Final = 4_000_000
_OUTPUT_FORMATS: Final = frozenset({"jpeg", "png", "webp"})
_OPTIONS: Final = (
    "allowed_hosts", "clock", "download_allow", "max_download_bytes", "max_response_bytes",
    "output_format", "poll_initial_s", "poll_max_s", "price_usd", "prompt_upsampling", "raw",
    "safety_tolerance",
)  # fmt: skip


def flux_model(model: str) -> FluxModel:
    """The entry for ``model``; unknown ``flux-2*`` names size like FLUX.2 pro, other
    unknown names like FLUX1.1 [pro]."""
    for prefix in sorted(KNOWN_MODELS, key=len, reverse=True):
        if model.startswith(prefix):
            return KNOWN_MODELS[prefix]
    return KNOWN_MODELS["flux-2-pro" if model.startswith("flux-2") else "flux-pro-1.1"]


# -- the adapter --------------------------------------------------------------------


class FluxProvider:
    """Black Forest Labs FLUX.

    Args:
        api_key: The key; else ``BFL_API_KEY`` (or ``api_key_env``).
        base_url: The API root; ``https://api.bfl.ai`` by default (``api.eu.bfl.ai``,
            ``api.us.bfl.ai``, a proxy, the simulator).
        safety_tolerance: 0 (strict) … 6 (5 for FLUX.2); the API default is 2.
        output_format: ``jpeg`` (API default), ``png`` or ``webp``.
        raw: Ultra's less processed look.
        prompt_upsampling: Let the API rewrite the prompt.
        price_usd: One price for every tier, or a tier → price mapping (used only when
            the submit answer carries no ``cost``).
        max_download_bytes: Cap for the sample download.
        max_response_bytes: Cap for each submit and poll answer (64 MiB by default).
        poll_initial_s: First wait between polls; each wait is 1.5× the last …
        poll_max_s: … up to this.
        allowed_hosts: Extra https hosts a ``polling_url`` may point at.
        download_allow: Host names, addresses or CIDRs the sample may come from besides
            public https hosts and the base host (plain http included).
        clock: Where poll waits and the attempt time are measured (default: the loop).

    Raises:
        ConfigurationError: no key (names ``BFL_API_KEY``), or a bad option.
    """

    __slots__ = (
        "_allowed_hosts", "_base", "_body_options", "_clock", "_closed", "_download_policy",
        "_key", "_log",
        "_max_download", "_max_response", "_poll_initial", "_poll_max", "_price", "_session",
        "name",
    )  # fmt: skip

    def __init__(
        self,
        *,
        api_key: str | SecretStr | None = None,
        api_key_env: str | None = None,
        base_url: str | None = None,
        safety_tolerance: int | None = None,
        output_format: str | None = None,
        raw: bool | None = None,
        prompt_upsampling: bool | None = None,
        price_usd: float | Mapping[Size, float] | None = None,
        max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        poll_initial_s: float = 0.25,
        poll_max_s: float = 2.0,
        allowed_hosts: tuple[str, ...] | list[str] = (),
        download_allow: tuple[str, ...] | list[str] = (),
        clock: Clock | None = None,
    ) -> None:
        self.name = "flux"
        self._base = urlsplit((base_url or DEFAULT_BASE_URL).rstrip("/"))
        if self._base.scheme not in ("http", "https") or not self._base.hostname:
            raise ConfigurationError(f"flux: base_url must be an http(s) URL, got {base_url!r}")
        self._body_options = _body_options(safety_tolerance, output_format, raw, prompt_upsampling)
        self._price = parse_price_option(price_usd, provider="flux")
        for label, value in (("poll_initial_s", poll_initial_s), ("poll_max_s", poll_max_s)):
            if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                raise ConfigurationError(f"flux: {label} must be a positive number of seconds")
        for label, cap in (
            ("max_download_bytes", max_download_bytes),
            ("max_response_bytes", max_response_bytes),
        ):
            if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
                raise ConfigurationError(f"flux: {label} must be a positive integer")
        if isinstance(allowed_hosts, str) or not all(isinstance(h, str) for h in allowed_hosts):
            raise ConfigurationError("flux: allowed_hosts must be a list of host names")
        if clock is not None and not isinstance(clock, Clock):
            raise ConfigurationError("flux: clock must have now() and async sleep(seconds)")
        secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._key = ProviderConfig(api_key=secret, api_key_env=api_key_env).resolve_key(
            ENV_VAR, provider="flux"
        )
        register_secret(self._key)
        self._poll_initial = float(poll_initial_s)
        self._poll_max = max(float(poll_max_s), self._poll_initial)
        self._max_download = max_download_bytes
        self._max_response = max_response_bytes
        self._allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self._download_policy = DownloadPolicy.build(
            "flux", base_url=self._base.geturl(), download_allow=download_allow
        )
        self._clock: Clock = clock or LoopClock()
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        self._log = get_logger("imagegate.providers.flux", provider="flux")

    @classmethod
    def from_config(cls, config: ProviderConfig) -> FluxProvider:
        """Build from a route's `ProviderConfig` (the registry's factory)."""
        check_options("flux", config.options, _OPTIONS)
        options = dict(config.options)
        # Poll on the router's clock unless the route names one: simulated time then
        # applies to polling too.
        options.setdefault("clock", config.clock)
        return cls(
            api_key=config.api_key,
            api_key_env=config.api_key_env,
            base_url=config.base_url,
            **options,
        )

    def capabilities(self, model: str) -> Capabilities:
        """Tiers, ratios and list prices of ``model`` (one image per task)."""
        spec = flux_model(model)
        prices = self._price if self._price is not None else spec.price_usd
        return Capabilities(
            sizes=frozenset(spec.sizes),
            aspect_ratios=FLUX_RATIOS,
            max_n=1,
            price_usd={s: p for s, p in prices.items() if s in spec.sizes},
            async_job=True,
            supports_seed=True,
        )

    @detaching
    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Submit, poll until ready within ``timeout_s``, download the sample."""
        route, size = f"flux/{request.model}", request.size
        spec = flux_model(request.model)
        refuse_unsupported(self.capabilities(request.model), request, route)
        safety = self._body_options.get("safety_tolerance")
        if isinstance(safety, int) and safety > spec.max_safety:
            raise InvalidRequestError(
                f"{route}: safety_tolerance {safety} above the model's {spec.max_safety}",
                field="safety_tolerance", route=route, size=size,
            )  # fmt: skip
        deadline = None if request.timeout_s is None else self._clock.now() + request.timeout_s
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = {"prompt": request.prompt, **_geometry(spec, size, request.aspect_ratio)}
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(self._body_options)
        if not request.model.startswith("flux-pro-1.1-ultra"):
            body.pop("raw", None)  # ultra only
        url = f"{self._base.geturl()}/v1/{request.model}"
        self._log.debug(
            "provider.request", route=route, size=size, request_id=request.request_id,
            timeout_s=request.timeout_s, **{k: v for k, v in body.items() if k != "prompt"},
        )  # fmt: skip
        task = await self._call("POST", url, body, route, size, deadline, "not_billed")
        polling_url = task.get("polling_url")
        if not isinstance(polling_url, str) or not task.get("id"):
            raise TransportError(
                "submit answer without id/polling_url", route=route, size=size, status=200,
                billing="possibly_billed",
            )  # fmt: skip
        self._check_url(polling_url, route, size, key_sent=True)
        result = await self._poll(polling_url, route, size, deadline)
        sample = result.get("sample")
        if not isinstance(sample, str):
            raise TransportError(
                "Ready without result.sample", route=route, size=size, billing="possibly_billed"
            )
        self._check_url(sample, route, size, key_sent=False)
        image = await download_image(
            self._session, sample, max_bytes=self._max_download,
            timeout_s=self._real_remaining(deadline), route=route, size=size,
            policy=self._download_policy,
        )  # fmt: skip
        credits = task.get("cost")
        cost = reported_cost_usd(credits, usd_per_unit=CREDIT_USD)
        return ProviderResponse(
            images=(image,),
            cost_usd=None if cost is None else round(cost, 6),
            size_ignored=image.size != size,
            metadata={
                "id": task.get("id"),
                "cost_credits": None if cost is None else credits,
                "output_mp": task.get("output_mp"),
                "seed": result.get("seed"),
            },
        )

    async def aclose(self) -> None:
        """Close the session. Safe to call twice."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"FluxProvider({state}, base_url={self._base.geturl()!r})"

    # -- private mapping ---------------------------------------------------------------

    async def _poll(
        self, url: str, route: str, size: Size, deadline: float | None
    ) -> Mapping[str, Any]:
        """Poll until a terminal status, waiting 1.5× longer each time (capped)."""
        wait = self._poll_initial
        while True:
            answer = await self._call("GET", url, None, route, size, deadline, "possibly_billed")
            status = str(answer.get("status"))
            if status == "Ready":
                result = answer.get("result")
                return result if isinstance(result, Mapping) else {}
            if status not in _PENDING:
                raise _terminal_error(status, answer.get("details"), route, size)
            remaining = None if deadline is None else deadline - self._clock.now()
            if remaining is not None and remaining <= 0:
                raise DeadlineExceeded(
                    f"task still {status} when the attempt's time ran out; it may finish "
                    "(and be billed) anyway",
                    route=route, size=size,
                )  # fmt: skip
            self._log.debug("flux.pending", route=route, size=size, progress=answer.get("progress"))
            await self._clock.sleep(wait if remaining is None else min(wait, remaining))
            wait = min(wait * 1.5, self._poll_max)

    async def _call(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None,
        route: str,
        size: Size,
        deadline: float | None,
        billing: Billing,
    ) -> Mapping[str, Any]:
        """One API request with the key; the JSON object answered, or the mapped error.
        ``billing`` is what a failure costs at this stage (nothing before the submit)."""
        assert self._session is not None
        headers = {"x-key": self._key.get_secret_value(), "accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self._real_remaining(deadline))
        what = "submit" if method == "POST" else "poll"
        try:
            # The key goes only to URLs `_check_url` accepted: a redirect is not followed.
            async with self._session.request(
                method, url, json=body, headers=headers, timeout=timeout, allow_redirects=False
            ) as resp:
                if 300 <= resp.status < 400:
                    raise RedirectRefused(resp.status)
                raw = await read_capped(resp, max_bytes=self._max_response)
                status, text = resp.status, raw.decode("utf-8", "replace")
                content_type, resp_headers = resp.content_type, resp.headers.copy()
        except (aiohttp.ClientError, TimeoutError, AnswerRefused) as exc:
            mapped = transport_error(exc, route=route, size=size, what=f"flux {what}")
            assert mapped is not None
            if billing != "not_billed":
                mapped.billing = billing  # the task exists whatever happened to this poll
            raise mapped from scrub(exc)
        try:
            payload = json.loads(text) if "json" in content_type else None
        except json.JSONDecodeError:
            payload = None
        if status == 404 and what == "poll":
            raise _terminal_error("Task not found", None, route, size)
        if status != 200 or not isinstance(payload, dict):
            raise _map_http(status, payload, text, resp_headers, route, size, billing)
        return payload

    def _check_url(self, url: str, route: str, size: Size, *, key_sent: bool) -> None:
        """Follow only URLs we trust: the configured base host, or https on ``bfl.ai``
        (subdomains included) or an allowed host; a sample (fetched without the key) may
        be on any https host."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        same_base = (parts.scheme, parts.netloc.lower()) == (
            self._base.scheme, self._base.netloc.lower(),
        )  # fmt: skip
        trusted = host == "bfl.ai" or host.endswith(".bfl.ai") or host in self._allowed_hosts
        if same_base or (parts.scheme == "https" and (trusted or not key_sent)):
            return
        what = "polling_url" if key_sent else "sample URL"
        raise UpstreamError(
            f"refusing to follow the {what} to {parts.scheme}://{host}: not the configured "
            "base host, nor https on bfl.ai (add it to allowed_hosts if it is yours)",
            route=route, size=size, retryable=False, billing="possibly_billed",
        )  # fmt: skip

    def _real_remaining(self, deadline: float | None) -> float | None:
        if deadline is None:
            return None
        scale = getattr(self._clock, "scale", 1.0)
        remaining = deadline - self._clock.now()
        return max(0.001, remaining * (scale if isinstance(scale, float) else 1.0))


def _body_options(
    safety_tolerance: object, output_format: object, raw: object, prompt_upsampling: object
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if safety_tolerance is not None:
        if not isinstance(safety_tolerance, int) or not 0 <= safety_tolerance <= 6:
            raise ConfigurationError("flux: safety_tolerance must be an integer from 0 to 6")
        options["safety_tolerance"] = safety_tolerance
    if output_format is not None:
        if output_format not in _OUTPUT_FORMATS:
            raise ConfigurationError(
                f"flux: output_format must be one of {sorted(_OUTPUT_FORMATS)}"
            )
        options["output_format"] = output_format
    for label, value in (("raw", raw), ("prompt_upsampling", prompt_upsampling)):
        if value is not None:
            if not isinstance(value, bool):
                raise ConfigurationError(f"flux: {label} must be true or false")
            options[label] = value
    return options


def _geometry(spec: FluxModel, size: Size, aspect_ratio: str) -> dict[str, Any]:
    """``aspect_ratio``, or ``width``/``height`` within the model's limits."""
    if spec.geometry == "ratio":
        w, h = parse_aspect_ratio(aspect_ratio)
        return {"aspect_ratio": f"{w}:{h}"}
    multiple = 32 if spec.geometry == "pixels32" else 16
    width, height = pixels_for(size, aspect_ratio, multiple=multiple)
    if spec.geometry == "pixels32":
        shrink = min(1.0, _PRO_MAX / max(width, height))
    else:
        shrink = min(1.0, (_FLUX2_MAX_PIXELS / (width * height)) ** 0.5)
    if shrink < 1.0:
        width = int(width * shrink) // multiple * multiple
        height = int(height * shrink) // multiple * multiple
    if spec.geometry == "pixels32":
        width, height = (max(_PRO_MIN, min(_PRO_MAX, v)) for v in (width, height))
    return {"width": width, "height": height}


def _terminal_error(status: str, details: object, route: str, size: Size) -> ProviderError:
    said = f": {details}" if details else ""
    where: dict[str, Any] = {"route": route, "size": size, "billing": "possibly_billed"}
    if status == "Request Moderated":
        return ContentBlocked(f"prompt moderated{said}", stage="prompt", reason=status, **where)
    if status == "Content Moderated":
        return ContentBlocked(f"image moderated{said}", stage="output", reason=status, **where)
    if status == "Task not found":
        return UpstreamError("the task is gone (Task not found)", **where)
    return UpstreamError(f"task ended with status {status!r}{said}", **where)


def _map_http(
    status: int,
    payload: object,
    text: str,
    headers: Mapping[str, str],
    route: str,
    size: Size,
    billing: Billing,
) -> ImageGateError:
    """A non-200 answer (FastAPI ``{"detail": …}`` bodies) or a 200 that is not JSON."""
    if status == 200:
        return TransportError(
            "HTTP 200 with a body that is not a JSON object", route=route, size=size,
            status=status, billing="possibly_billed",
        )  # fmt: skip
    body = payload if isinstance(payload, dict) else {}
    detail = body.get("detail")
    param = None
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        loc = detail[0].get("loc")
        param = str(loc[-1]) if isinstance(loc, list) and loc else None
        message = "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, Mapping))
    else:
        message = str(detail or body.get("message") or body.get("error") or f"HTTP {status}")
    mapped = map_status(
        status,
        code="",
        message=message,
        body={**body, "param": param},
        headers=headers,
        route=route,
        size=size,
        raw_text=None if payload is not None else text,
    )
    if isinstance(mapped, ProviderError) and billing != "not_billed":
        mapped.billing = billing
    return mapped

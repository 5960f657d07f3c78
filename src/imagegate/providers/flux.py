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
kontext take ``aspect_ratio`` (ultra always renders ~4 MP, i.e. 2K). Input images go in
base64 as ``input_image``, ``input_image_2`` … in order; none a mask.

Credentials: ``api_key=`` or ``BFL_API_KEY``; endpoint: ``base_url=``, else
``BFL_BASE_URL``, else ``https://api.bfl.ai``. Route options: ``safety_tolerance``,
``output_format``, ``raw`` (ultra), ``prompt_upsampling``, ``price_usd``,
``max_download_bytes``, ``max_response_bytes`` (API answers), ``poll_initial_s``,
``poll_max_s``, ``allowed_hosts``, ``download_allow`` and ``clock`` (polls sleep on it;
share the simulator's clock in tests).

Mapping: submit 402 → QuotaExhausted; 429 → RateLimited; 401/403 → AuthenticationError;
422/400 → InvalidRequestError; 503 → Overloaded; other 5xx → UpstreamError; HTML →
TransportError. After submit: ``Request Moderated`` → ContentBlocked(stage="prompt"),
``Content Moderated`` → ContentBlocked(stage="output"), a 202 poll → still pending,
``Error`` / ``Task not found`` → UpstreamError, still ``Pending`` at the end of the
attempt → DeadlineExceeded; all of them possibly billed (the task was accepted and priced
at submit). An API answer larger than ``max_response_bytes`` or a redirect (the key is
never sent on) → TransportError.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import SplitResult, urlsplit

import aiohttp
from pydantic import SecretStr

from imagegate._logging import get_logger
from imagegate._provider import Capabilities, ProviderRequest, ProviderResponse
from imagegate._redact import register_secret
from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate._sanitize import detaching
from imagegate.errors import (
    Billing,
    ConfigurationError,
    DeadlineExceeded,
    InvalidRequestError,
    TransportError,
    UpstreamError,
)
from imagegate.providers._download import DEFAULT_MAX_DOWNLOAD_BYTES, download_image
from imagegate.providers._flux_errors import map_http, terminal_error
from imagegate.providers._flux_models import (
    FLUX_RATIOS,
    KNOWN_MODELS,
    FluxModel,
    body_options,
    flux_model,
    geometry,
    input_images,
)
from imagegate.providers._guard import (
    DEFAULT_MAX_RESPONSE_BYTES,
    AnswerRefused,
    DownloadPolicy,
    RedirectRefused,
    read_capped,
)
from imagegate.providers._inputs import input_fields
from imagegate.providers._options import check_options, positive_int, positive_seconds
from imagegate.providers._preflight import refuse_unsupported
from imagegate.providers._prices import parse_price_option, reported_cost_usd
from imagegate.providers._registry import ProviderConfig
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error
from imagegate.resilience.clock import Clock, LoopClock

__all__ = [
    "BASE_URL_ENV_VAR", "DEFAULT_BASE_URL", "ENV_VAR", "FLUX_RATIOS", "KNOWN_MODELS", "FluxModel",
    "FluxProvider",
]  # fmt: skip

ENV_VAR: Final = "BFL_API_KEY"
BASE_URL_ENV_VAR: Final = "BFL_BASE_URL"
DEFAULT_BASE_URL: Final = "https://api.bfl.ai"
CREDIT_USD: Final = 0.01

# -- known models: see imagegate.providers._flux_models

# -- mapping tables -----------------------------------------------------------------

_PENDING: Final = frozenset({"Pending", "Queued", "Processing"})
_PENDING_202: Final[Mapping[str, Any]] = {"status": "Pending"}
"""A 202 poll answer without a status: still pending (BFL's own client reads the status
whatever the HTTP code: black-forest-labs/flux, src/flux/api.py, ``retrieve``)."""
_OPTIONS: Final = (
    "allowed_hosts", "clock", "download_allow", "max_download_bytes", "max_response_bytes",
    "output_format", "poll_initial_s", "poll_max_s", "price_usd", "prompt_upsampling", "raw",
    "safety_tolerance",
)  # fmt: skip


# -- the adapter --------------------------------------------------------------------


class FluxProvider:
    """Black Forest Labs FLUX.

    Args:
        api_key: The key; else ``BFL_API_KEY`` (or ``api_key_env``).
        base_url: The API root; else ``BFL_BASE_URL``, else ``https://api.bfl.ai``
            (``api.eu.bfl.ai``, ``api.us.bfl.ai``, a proxy, the simulator).
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
    ends_when_cancelled = True  # ends once cancelled: the router calls it in the request's task

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
        self._base = _base_url(base_url)
        self._body_options = body_options(safety_tolerance, output_format, raw, prompt_upsampling)
        self._price = parse_price_option(price_usd, provider="flux")
        self._poll_initial = positive_seconds("flux", "poll_initial_s", poll_initial_s)
        self._poll_max = max(positive_seconds("flux", "poll_max_s", poll_max_s), self._poll_initial)
        self._max_download = positive_int("flux", "max_download_bytes", max_download_bytes)
        self._max_response = positive_int("flux", "max_response_bytes", max_response_bytes)
        self._allowed_hosts = _host_names(allowed_hosts)
        self._clock = _checked_clock(clock)
        secret = SecretStr(api_key) if isinstance(api_key, str) else api_key
        self._key = ProviderConfig(api_key=secret, api_key_env=api_key_env).resolve_key(
            ENV_VAR, provider="flux"
        )
        register_secret(self._key)
        self._download_policy = DownloadPolicy.build(
            "flux", base_url=self._base.geturl(), download_allow=download_allow
        )
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
            **input_fields(spec.inputs),
        )

    @detaching
    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Submit, poll until ready within ``timeout_s``, download the sample."""
        route, size = f"flux/{request.model}", request.size
        spec = flux_model(request.model)
        refuse_unsupported(self.capabilities(request.model), request, route)
        self._refuse_safety(spec, route, size)
        deadline = None if request.timeout_s is None else self._clock.now() + request.timeout_s
        if self._session is None:
            self._session = aiohttp.ClientSession()
        body = self._submit_body(request, spec)
        url = f"{self._base.geturl()}/v1/{request.model}"
        self._log.debug(
            "provider.request", route=route, size=size, request_id=request.request_id,
            timeout_s=request.timeout_s, **{k: v for k, v in body.items() if k != "prompt"
                                             and not k.startswith("input_image")},
        )  # fmt: skip
        task = await self._call("POST", url, body, route, size, deadline, "not_billed")
        polling_url = _polling_url(task, route, size)
        self._check_url(polling_url, route, size, key_sent=True)
        result = await self._poll(polling_url, route, size, deadline)
        sample = _sample_url(result, route, size)
        self._check_url(sample, route, size, key_sent=False)
        image = await download_image(
            self._session, sample, max_bytes=self._max_download,
            timeout_s=self._real_remaining(deadline), route=route, size=size,
            policy=self._download_policy,
        )  # fmt: skip
        return _response(task, result, image, size)

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

    def _refuse_safety(self, spec: FluxModel, route: str, size: Size) -> None:
        """Refuse a ``safety_tolerance`` above what the model accepts (FLUX.2: 5)."""
        safety = self._body_options.get("safety_tolerance")
        if isinstance(safety, int) and safety > spec.max_safety:
            raise InvalidRequestError(
                f"{route}: safety_tolerance {safety} above the model's {spec.max_safety}",
                field="safety_tolerance", route=route, size=size,
            )  # fmt: skip

    def _submit_body(self, request: ProviderRequest, spec: FluxModel) -> dict[str, Any]:
        """The submit's JSON: prompt, size, seed, input images and the route's options."""
        body = {"prompt": request.prompt, **geometry(spec, request.size, request.aspect_ratio)}
        if request.seed is not None:
            body["seed"] = request.seed
        body.update(input_images(request.images))
        body.update(self._body_options)
        if not request.model.startswith("flux-pro-1.1-ultra"):
            body.pop("raw", None)  # ultra only
        return body

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
                raise terminal_error(status, answer.get("details"), route, size)
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
        what = "submit" if method == "POST" else "poll"
        try:
            status, text, content_type, headers = await self._exchange(method, url, body, deadline)
        except (aiohttp.ClientError, TimeoutError, AnswerRefused) as exc:
            mapped = transport_error(exc, route=route, size=size, what=f"flux {what}")
            assert mapped is not None
            if billing != "not_billed":
                mapped.billing = billing  # the task exists whatever happened to this poll
            raise mapped from scrub(exc)
        payload = _json(text) if "json" in content_type else None
        if status == 404 and what == "poll":
            raise terminal_error("Task not found", None, route, size)
        if status == 202 and what == "poll":  # accepted, not done: a pending task
            return payload if isinstance(payload, dict) and "status" in payload else _PENDING_202
        if status != 200 or not isinstance(payload, dict):
            raise map_http(status, payload, text, headers, route, size, billing)
        return payload

    async def _exchange(
        self, method: str, url: str, body: Mapping[str, Any] | None, deadline: float | None
    ) -> tuple[int, str, str, Mapping[str, str]]:
        """Status, text, content type and headers of one keyed request, read with the cap."""
        assert self._session is not None
        headers = {"x-key": self._key.get_secret_value(), "accept": "application/json"}
        timeout = aiohttp.ClientTimeout(total=self._real_remaining(deadline))
        # The key goes only to URLs `_check_url` accepted: a redirect is not followed.
        async with self._session.request(
            method, url, json=body, headers=headers, timeout=timeout, allow_redirects=False
        ) as resp:
            if 300 <= resp.status < 400:
                raise RedirectRefused(resp.status)
            raw = await read_capped(resp, max_bytes=self._max_response)
            return (
                resp.status,
                raw.decode("utf-8", "replace"),
                resp.content_type,
                resp.headers.copy(),
            )

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


def _base_url(base_url: str | None) -> SplitResult:
    """The API root, split; http(s) with a host."""
    base_url = base_url or os.environ.get(BASE_URL_ENV_VAR) or DEFAULT_BASE_URL
    base = urlsplit(base_url.rstrip("/"))
    if base.scheme not in ("http", "https") or not base.hostname:
        raise ConfigurationError(f"flux: base_url must be an http(s) URL, got {base_url!r}")
    return base


def _host_names(allowed_hosts: tuple[str, ...] | list[str]) -> frozenset[str]:
    if isinstance(allowed_hosts, str) or not all(isinstance(h, str) for h in allowed_hosts):
        raise ConfigurationError("flux: allowed_hosts must be a list of host names")
    return frozenset(h.lower() for h in allowed_hosts)


def _checked_clock(clock: object) -> Clock:
    if clock is None:
        return LoopClock()
    if not isinstance(clock, Clock):
        raise ConfigurationError("flux: clock must have now() and async sleep(seconds)")
    return clock


def _json(text: str) -> object:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _polling_url(task: Mapping[str, Any], route: str, size: Size) -> str:
    polling_url = task.get("polling_url")
    if not isinstance(polling_url, str) or not task.get("id"):
        raise TransportError(
            "submit answer without id/polling_url", route=route, size=size, status=200,
            billing="possibly_billed",
        )  # fmt: skip
    return polling_url


def _sample_url(result: Mapping[str, Any], route: str, size: Size) -> str:
    sample = result.get("sample")
    if not isinstance(sample, str):
        raise TransportError(
            "Ready without result.sample", route=route, size=size, billing="possibly_billed"
        )
    return sample


def _response(
    task: Mapping[str, Any], result: Mapping[str, Any], image: GeneratedImage, size: Size
) -> ProviderResponse:
    """The answer: the sample, the submit's cost in dollars, ids and seed."""
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

"""`GeminiBatch`: Gemini's Batch API on AI Studio, for work that can wait a day.

Google runs a job of ``generateContent`` requests at half the online price with a 24-hour
target turnaround (https://ai.google.dev/gemini-api/docs/batch-api). `GeminiBatch` sends
items inline (each as the `gemini` adapter builds its call: prompt, input images, size
and aspect ratio in ``imageConfig``, seed), polls the job on the router's clock with
backoff, and reads each answer as the online adapter reads one: sizes and encodings
checked, blocks and refusals mapped (`GoogleGenAIProvider.read_answer`). The SDK's calls
(``client.aio.batches.create/get/list/cancel``) go through the adapter's client: its
key (kept in the SDK client, never logged), its endpoint, its answer cap.

Backoff between polls: ``poll_initial_s``, then × ``poll_multiplier`` per poll, at most
``poll_max_s`` (a job takes minutes to hours; a poll is one small request).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from google.genai import errors, types

from imagegate._provider import ProviderRequest, ProviderResponse
from imagegate._redact import redact
from imagegate._request import Size
from imagegate._router import Router
from imagegate.batch._gemini_wire import (
    VALUES_BASE,
    VALUES_PER_ITEM,
    UnreadableAnswer,
    job_from,
    list_page,
    listed,
    read_json,
)
from imagegate.errors import (
    ConfigurationError,
    ImageGateError,
    ProviderError,
    TransportError,
    UpstreamError,
)
from imagegate.providers._catalogue import active_catalogue
from imagegate.providers._google import GoogleGenAIProvider
from imagegate.providers._google_errors import map_api_error
from imagegate.providers._scrub import scrub
from imagegate.providers._transport import transport_error

__all__ = ["TERMINAL_STATES", "BatchAnswer", "GeminiBatch", "job_state"]

TERMINAL_STATES: Final = frozenset(
    {"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED"}
)
"""Job states after which nothing changes (google-genai's ``JobState`` names)."""
_STATES: Final = TERMINAL_STATES | {"JOB_STATE_PENDING", "JOB_STATE_RUNNING"}
_ERROR_CHARS: Final = 200
"""Most characters of a job's error text kept (in a log line, an item's error)."""

_T = TypeVar("_T")

_JOB_NAME: Final = re.compile(r"batches/[A-Za-z0-9_-]{1,128}")
"""What a job's name must look like before it goes into a URL."""
_LIST_PAGES: Final = 200
_LIST_PAGE_SIZE: Final = 10
"""Jobs a page of the list asks for: a page may carry each job's answers, and is parsed
whole (10 jobs of 50 items: at most a million JSON values, about 70 MB parsed)."""

_DISCOUNT: Final = 0.5
"""Batch price as a share of the online one where the catalogue lists none (Google's
batch requests cost 50% of the standard price)."""


@dataclass(frozen=True, slots=True)
class BatchAnswer:
    """What a job answered for one item: an image (``response``) or why not (``error``).

    Attributes:
        response: The checked answer, or None.
        error: Why there is no usable image, or None.
        billed: Whether the job's answer is billed (an image, a text refusal).
    """

    response: ProviderResponse | None
    error: ImageGateError | None
    billed: bool


class GeminiBatch:
    """The Gemini Batch API for one image model, through a `gemini` adapter's client.

    Args:
        provider: The `gemini` adapter (`GeminiProvider`) whose client the jobs use.
        model: The image model (``gemini-3-pro-image``).
        items_per_job: Most items in one job (answers come back inline, in one body).
        poll_initial_s: Wait before the first poll.
        poll_max_s: Longest wait between polls.
        poll_multiplier: Growth of the wait from one poll to the next.

    Raises:
        ConfigurationError: a bad setting, or an adapter that is not Gemini's.
    """

    __slots__ = (
        "_model",
        "_provider",
        "items_per_job",
        "poll_initial_s",
        "poll_max_s",
        "poll_multiplier",
    )

    def __init__(
        self,
        provider: GoogleGenAIProvider,
        model: str,
        *,
        items_per_job: int = 50,
        poll_initial_s: float = 30.0,
        poll_max_s: float = 600.0,
        poll_multiplier: float = 1.5,
    ) -> None:
        if not isinstance(provider, GoogleGenAIProvider) or provider.name != "gemini":
            raise ConfigurationError("GeminiBatch needs a gemini route's adapter (AI Studio)")
        if items_per_job < 1 or not 0 < poll_initial_s <= poll_max_s or poll_multiplier < 1:
            raise ConfigurationError(
                "GeminiBatch: items_per_job >= 1, 0 < poll_initial_s <= poll_max_s and "
                "poll_multiplier >= 1"
            )
        self._provider = provider
        self._model = model
        self.items_per_job = items_per_job
        self.poll_initial_s = poll_initial_s
        self.poll_max_s = poll_max_s
        self.poll_multiplier = poll_multiplier

    @classmethod
    def from_router(cls, router: Router, route: str, **settings: float) -> GeminiBatch:
        """The Batch API on ``route`` (``"gemini/<model>"``) with the key and endpoint of
        the open router's first `gemini` route.

        Raises:
            ConfigurationError: ``route`` is not ``gemini/<model>``, or the router has
                no open gemini route.
        """
        provider_name, _, model = route.partition("/")
        if provider_name != "gemini" or not model:
            raise ConfigurationError(
                f"--batch-api takes gemini/<model> (the Batch API is Gemini's), got {route!r}"
            )
        providers = router.engine.providers
        for configured, provider in zip(router.routes, providers, strict=False):
            if configured.provider == "gemini" and isinstance(provider, GoogleGenAIProvider):
                return cls(provider, model, **settings)  # type: ignore[arg-type]
        raise ConfigurationError(
            "the Gemini Batch API mode needs a gemini route in the router (its key and "
            "endpoint), and the router open"
        )

    def __repr__(self) -> str:
        return (
            f"GeminiBatch(model={self._model!r}, items_per_job={self.items_per_job}, "
            f"poll_initial_s={self.poll_initial_s}, poll_max_s={self.poll_max_s})"
        )

    @property
    def model(self) -> str:
        """The image model the jobs run."""
        return self._model

    @property
    def route(self) -> str:
        """How results delivered by a job name their route: ``gemini-batch/<model>``."""
        return f"gemini-batch/{self._model}"

    def price_usd(self, size: Size) -> float:
        """The batch price of one image of tier ``size``: the catalogue's batch price
        when the route bills list prices, else half the route's online price (a route
        with negotiated ``price_usd``, a model the catalogue lists no batch price for)."""
        online = self._provider.capabilities(self._model).price_usd.get(size, 0.0)
        entry = active_catalogue().get(self._model, "google")
        batch = (entry.batch_price_usd or {}) if entry is not None else {}
        listed = (entry.price_usd or {}) if entry is not None else {}
        if size in batch and listed.get(size) == online:
            return float(batch[size])
        return online * _DISCOUNT

    def inline_request(self, item_id: str, request: ProviderRequest) -> types.InlinedRequest:
        """The job's entry for one item: the adapter's ``generateContent`` call, with the
        item's id as metadata.

        Raises:
            InvalidRequestError: the model cannot serve the request (size, ratio, inputs).
        """
        contents, config = self._provider.content_request(request)
        return types.InlinedRequest(contents=contents, config=config, metadata={"key": item_id})

    async def create(self, display_name: str, requests: Sequence[types.InlinedRequest]) -> str:
        """Create a job; its name (``batches/…``).

        Raises:
            ImageGateError: the API refused it or could not be reached (mapped).
        """
        job = await self._call(
            self._provider.client.aio.batches.create(
                model=self._model,
                src=list(requests),
                config=types.CreateBatchJobConfig(display_name=display_name),
            )
        )
        if not _usable_name(job.name):
            raise TransportError(
                "the Batch API answered with no usable job name", route=self.route,
                billing="possibly_billed",
            )  # fmt: skip
        assert job.name is not None
        return job.name

    async def get(self, name: str, items: int | None = None) -> types.BatchJob:
        """The job now (its answers inline once it succeeded), read with at most the
        JSON values its ``items`` answers may take (default `items_per_job`; see
        `imagegate.batch._gemini_wire`).

        Raises:
            ConfigurationError: ``name`` is not ``batches/<id>``.
            ImageGateError: the API refused it or could not be reached (mapped), or
                its answer is not one to read.
        """
        if not _usable_name(name):
            raise ConfigurationError(f"not a Batch API job name: {name[:80]!r}")
        count = self.items_per_job if items is None else items
        limit = VALUES_BASE + VALUES_PER_ITEM * count
        answer = await self._call(read_json(self._provider.client, name, limit))
        try:
            return job_from(answer)
        except Exception as exc:
            raise self._mapped(exc) from scrub(exc)

    async def cancel(self, name: str) -> None:
        """Ask the API to cancel the job (a job that has ended stays as it is)."""
        await self._call(self._provider.client.aio.batches.cancel(name=name))

    async def find(self, display_name: str) -> str | None:
        """The name of the account's job with this display name, or None (the list is
        read page by page, at most `_LIST_PAGES` pages of `_LIST_PAGE_SIZE` jobs; a job
        whose name is not ``batches/<id>`` is not taken)."""
        token: str | None = None
        limit = _LIST_PAGE_SIZE * (VALUES_BASE + VALUES_PER_ITEM * self.items_per_job)
        for _ in range(_LIST_PAGES):
            path = list_page(_LIST_PAGE_SIZE, token)
            jobs, token = listed(await self._call(read_json(self._provider.client, path, limit)))
            for name, shown in jobs:
                if shown == display_name and _usable_name(name):
                    return name
            if token is None:
                return None
        return None

    async def _call(self, call: Awaitable[_T]) -> _T:
        """Await an SDK call, mapping its errors at the boundary."""
        try:
            return await call
        except Exception as exc:
            raise self._mapped(exc) from scrub(exc)

    def _mapped(self, exc: Exception) -> ImageGateError:
        """The imagegate error for what an SDK call raised."""
        if isinstance(exc, errors.APIError):
            return map_api_error(exc, self.route, "1K")
        if isinstance(exc, UnreadableAnswer):
            return TransportError(
                f"unreadable Batch API answer: {exc}", route=self.route,
                billing="possibly_billed",
            )  # fmt: skip
        mapped = transport_error(exc, route=self.route, size="1K")
        if mapped is not None:
            return mapped
        return TransportError(
            f"unreadable Batch API answer ({type(exc).__name__})", route=self.route
        )

    def answers(
        self, job: types.BatchJob, items: Sequence[tuple[str, ProviderRequest]]
    ) -> list[BatchAnswer]:
        """Each item's answer from a succeeded job, in the items' order (untrusted).

        An answer goes to the item its ``metadata.key`` names (the API echoes each
        request's metadata), wherever it stands; one without a key goes by place only
        when the job answered exactly as many as it was sent. A missing answer, or one
        two answers claim, is an error for that item; extra answers are ignored.
        """
        inlined = (job.dest.inlined_responses if job.dest is not None else None) or []
        by_key: dict[str, types.InlinedResponse | None] = {}
        for each in inlined:
            key = (each.metadata or {}).get("key")
            if isinstance(key, str):
                by_key[key] = None if key in by_key else each  # claimed twice: neither
        by_place = len(inlined) == len(items)
        out: list[BatchAnswer] = []
        for index, (item_id, request) in enumerate(items):
            answer = by_key.get(item_id)
            if item_id not in by_key and by_place and not (inlined[index].metadata or {}):
                answer = inlined[index]
            out.append(self._answer(answer, request, index))
        return out

    def _answer(
        self, answer: types.InlinedResponse | None, request: ProviderRequest, index: int
    ) -> BatchAnswer:
        route, size = self.route, request.size
        if answer is None:
            missing = UpstreamError(f"the job returned no answer for item {index}", route=route)
            return BatchAnswer(None, missing, False)
        if answer.error is not None or answer.response is None:
            said = error_text(answer.error) if answer.error is not None else "no response"
            error = UpstreamError(
                f"the job's answer for this item is an error: {said}",
                route=route, size=size, billing="not_billed",
            )  # fmt: skip
            return BatchAnswer(None, error, False)
        try:
            response = self._provider.read_answer(answer.response, request)
        except ImageGateError as exc:
            billed = isinstance(exc, ProviderError) and exc.billing == "billed"
            return BatchAnswer(None, exc, billed)
        return BatchAnswer(response, None, True)


def _usable_name(name: str | None) -> bool:
    """Whether a job name from the API may go into a URL (``batches/<id>``)."""
    return name is not None and _JOB_NAME.fullmatch(name) is not None


def job_state(job: types.BatchJob) -> str:
    """The job's state, ``"UNKNOWN"`` for none or one not among google-genai's
    ``JobState`` names (an untrusted string goes no further: no ledger, no log)."""
    value = job.state.value if job.state is not None else None
    return value if isinstance(value, str) and value in _STATES else "UNKNOWN"


def error_text(error: types.JobError) -> str:
    """A job's or an item's ``google.rpc.Status`` in words, redacted and capped: its
    code when it is one (a small int), its message on one line."""
    code = error.code
    shown = f"code {code}: " if isinstance(code, int) and 0 <= code < 1000 else ""
    said = " ".join((error.message or "no message").split())
    return redact(f"{shown}{said}")[:_ERROR_CHARS]

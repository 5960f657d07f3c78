"""The imagegate error taxonomy.

Every adapter maps vendor exceptions and response bodies into these classes at its
boundary (always ``raise Mapped(...) from exc``); the router decides only on these classes,
never on status codes::

    ImageGateError
    ├── ConfigurationError            bad config, missing key (names the env var)
    ├── InvalidRequestError           bad prompt/size for this route; not retried elsewhere
    ├── ProviderError (route, size, status, retryable, billing, retry_after_s)
    │   ├── RateLimited               429 per-minute; retry_after_s from RetryInfo/Retry-After
    │   ├── QuotaExhausted            per-day or credit quota; open until reset, don't retry
    │   ├── Overloaded                503 "model is overloaded"
    │   ├── DeadlineExceeded          504 server deadline, or our own attempt timeout
    │   ├── TransportError            reset, refused, truncated/malformed body, HTML from a proxy
    │   ├── ContentBlocked            safety/moderation (prompt or output); reason kept
    │   ├── NoImageReturned           HTTP 200 without an image (text refusal, empty list)
    │   ├── AuthenticationError       401/403, invalid key
    │   └── UpstreamError             any other 5xx
    ├── AllRoutesFailed               every allowed option tried; .attempts
    └── BudgetExceeded                the cost cap would be crossed

Messages pass through `imagegate._redact.redact`, so a key that leaks into vendor text
(a URL with ``?key=``, an echoed header) never reaches ``str(error)`` or a log. What an
adapter chains with ``from`` is an `imagegate._sanitize.UpstreamCause` stand-in, not the
SDK's live exception (whose request holds the key in its headers), and the router detaches
every error it gets from a provider the same way (see `imagegate._sanitize.detach`).

``billing`` says whether the provider may charge for the failed call: ``"not_billed"``
(rejected before work started), ``"possibly_billed"`` (we gave up while it may have been
working) or ``"billed"`` (it finished the work, e.g. a text refusal).
"""

from __future__ import annotations

from collections.abc import Sequence

from imagegate._errors import (
    AuthenticationError,
    Billing,
    BudgetExceeded,
    ConfigurationError,
    ContentBlocked,
    DeadlineExceeded,
    ImageGateError,
    InvalidRequestError,
    NoImageReturned,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate._result import Attempt, SkippedOption

__all__ = [
    "AllRoutesFailed",
    "AuthenticationError",
    "Billing",
    "BudgetExceeded",
    "ConfigurationError",
    "ContentBlocked",
    "DeadlineExceeded",
    "ImageGateError",
    "InvalidRequestError",
    "NoImageReturned",
    "Overloaded",
    "ProviderError",
    "QuotaExhausted",
    "RateLimited",
    "TransportError",
    "UpstreamError",
]


class AllRoutesFailed(ImageGateError):
    """Every allowed (route, size) option was tried or skipped and none produced an image.

    Attributes:
        attempts: Every attempt made, in start order.
        skipped: Why options were not tried, in words (``"route@size: reason"``; by
            default each of ``skipped_options`` in words).
        skipped_options: The same as records (route, size, `SkipReason`, detail), as
            `ImageResult.skipped` holds them: read these rather than parse the words.
    """

    def __init__(
        self,
        message: str,
        *,
        attempts: Sequence[Attempt] = (),
        skipped: Sequence[str] = (),
        skipped_options: Sequence[SkippedOption] = (),
    ) -> None:
        self.attempts: tuple[Attempt, ...] = tuple(attempts)
        self.skipped: tuple[str, ...] = tuple(skipped) or tuple(map(str, skipped_options))
        self.skipped_options: tuple[SkippedOption, ...] = tuple(skipped_options)
        super().__init__(message)

    @property
    def errors(self) -> tuple[ImageGateError, ...]:
        """The error of every failed attempt, in order."""
        return tuple(a.error for a in self.attempts if a.error is not None)

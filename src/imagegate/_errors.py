"""The imagegate error classes but one (see `imagegate.errors`, which presents them all).

`AllRoutesFailed` holds the attempts (`imagegate._result.Attempt`) and every attempt may
hold one of these errors; defining it in `imagegate.errors`, above both, keeps the
modules free of an import cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from imagegate._redact import redact

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
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

Billing = Literal["billed", "possibly_billed", "not_billed"]
"""Whether a call may be charged for: finished, interrupted mid-work, or rejected."""


class ImageGateError(Exception):
    """Base class of every error imagegate raises. Its message never contains a secret."""

    def __init__(self, message: str) -> None:
        self.message = redact(message)
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled as its class, its message and its attributes, so that an error with
        # required keyword arguments (`BudgetExceeded`) crosses a process boundary
        # (multiprocessing, a task queue) as intact as one without.
        return (_unpickled, (type(self), self.message), self.__dict__)


def _unpickled(cls: type[ImageGateError], message: str) -> ImageGateError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


class ConfigurationError(ImageGateError):
    """The configuration cannot work: unknown provider, missing key, bad option.

    Attributes:
        env_var: The environment variable that would have supplied a missing value.
    """

    def __init__(self, message: str, *, env_var: str | None = None) -> None:
        self.env_var = env_var
        super().__init__(message)


class InvalidRequestError(ImageGateError, ValueError):
    """The request is malformed, or this route cannot serve it; retrying it will not help.

    Attributes:
        field: The request field at fault, when known (``"size"``, ``"prompt"`` …).
        route: The route that rejected it, when it came from a provider.
        size: The tier it was tried at, when it came from a provider.
        status: The HTTP status, when it came from a provider.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        route: str | None = None,
        size: str | None = None,
        status: int | None = None,
    ) -> None:
        self.field = field
        self.route = route
        self.size = size
        self.status = status
        super().__init__(message)

    @classmethod
    def from_validation(cls, exc: ValidationError) -> InvalidRequestError:
        """Turn a pydantic validation error into one naming the first bad field."""
        errors = exc.errors(include_url=False, include_input=False)
        parts = []
        for err in errors:
            loc = ".".join(str(p) for p in err["loc"]) or "request"
            msg = err["msg"].removeprefix("Value error, ")
            parts.append(f"{loc}: {msg}")
        first = errors[0]["loc"] if errors else ()
        field = str(first[0]) if first else None
        return cls("invalid request: " + "; ".join(parts), field=field)


class ProviderError(ImageGateError):
    """A provider call failed. Subclasses say how; the attributes say what to do about it.

    Attributes:
        route: ``"provider/model"`` of the attempt, when known.
        size: The tier requested in the attempt.
        status: HTTP status, or None when there was no response.
        retryable: Whether the same call may succeed if tried again.
        billing: ``"billed"``, ``"possibly_billed"`` or ``"not_billed"``.
        retry_after_s: The provider's hint for the minimum wait before retrying.
    """

    default_retryable: ClassVar[bool] = True
    default_billing: ClassVar[Billing] = "not_billed"

    def __init__(
        self,
        message: str,
        *,
        route: str | None = None,
        size: str | None = None,
        status: int | None = None,
        retryable: bool | None = None,
        billing: Billing | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.route = route
        self.size = size
        self.status = status
        self.retryable = self.default_retryable if retryable is None else retryable
        self.billing: Billing = self.default_billing if billing is None else billing
        self.retry_after_s = retry_after_s
        super().__init__(message)

    def __str__(self) -> str:
        where = "/".join(p for p in (self.route, self.size) if p)
        status = f" HTTP {self.status}" if self.status is not None else ""
        return f"[{where}{status}] {self.message}" if where or status else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, route={self.route!r}, size={self.size!r}, "
            f"status={self.status!r}, retryable={self.retryable!r}, billing={self.billing!r}, "
            f"retry_after_s={self.retry_after_s!r})"
        )

    def bind(self, *, route: str, size: str) -> ProviderError:
        """Fill in the route and size if the adapter did not know them; returns self."""
        self.route = self.route or route
        self.size = self.size or size
        return self


class RateLimited(ProviderError):
    """429 on a per-minute limit; ``retry_after_s`` carries the provider's hint."""


class QuotaExhausted(ProviderError):
    """A per-day or credit quota is used up; retrying before ``reset_at`` is pointless.

    Attributes:
        reset_at: When the quota resets (timezone-aware), if known.
        scope: What the quota counts, e.g. ``"requests_per_day"`` or ``"credits"``.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        reset_at: datetime | None = None,
        scope: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.reset_at = reset_at
        self.scope = scope
        super().__init__(message, **kwargs)


class Overloaded(ProviderError):
    """503: the provider is out of capacity ("The model is overloaded")."""


class DeadlineExceeded(ProviderError):
    """The server hit its deadline (504), or our own attempt timeout expired.

    The provider may have been working on the image, so billing defaults to
    ``"possibly_billed"``.
    """

    default_billing = "possibly_billed"


class TransportError(ProviderError):
    """The connection failed or the body was unusable: reset, refused, truncated,
    malformed JSON, an HTML page from a proxy."""


class ContentBlocked(ProviderError):
    """A safety or moderation system refused the prompt or the generated image.

    Attributes:
        stage: ``"prompt"`` (input refused; another route would likely refuse it too) or
            ``"output"`` (the generated image was withheld).
        reason: The provider's reason code or text, e.g. ``"IMAGE_SAFETY"``.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        stage: Literal["prompt", "output"] = "prompt",
        reason: str | None = None,
        **kwargs: Any,
    ) -> None:
        self.stage = stage
        self.reason = reason
        super().__init__(message, **kwargs)


class NoImageReturned(ProviderError):
    """The call succeeded (HTTP 200) but carried no image: a text refusal, an empty list.

    The provider did the work, so billing defaults to ``"billed"``.
    """

    default_billing = "billed"


class AuthenticationError(ProviderError):
    """401/403 or an invalid key: fix the credentials; retrying will not help."""

    default_retryable = False


class UpstreamError(ProviderError):
    """Any other server-side failure (500, 502 …)."""


class BudgetExceeded(ImageGateError):
    """Starting the next attempt would cross the configured cost cap.

    Attributes:
        spent_usd: What was already spent or reserved.
        limit_usd: The cap.
    """

    def __init__(self, message: str, *, spent_usd: float, limit_usd: float) -> None:
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        super().__init__(message)


# Documented, raised and pickled as `imagegate.errors.<name>`, where users import them.
for _class in (
    ImageGateError,
    ConfigurationError,
    InvalidRequestError,
    ProviderError,
    RateLimited,
    QuotaExhausted,
    Overloaded,
    DeadlineExceeded,
    TransportError,
    ContentBlocked,
    NoImageReturned,
    AuthenticationError,
    UpstreamError,
    BudgetExceeded,
):
    _class.__module__ = "imagegate.errors"

"""What an adapter settles before its network call: whether the model can serve the
request at all, and the timeout to hand the SDK."""

from __future__ import annotations

from imagegate._provider import Capabilities, ProviderRequest
from imagegate.errors import InvalidRequestError
from imagegate.providers._inputs import refuse_inputs

__all__ = ["real_timeout_s", "refuse_unsupported"]


def refuse_unsupported(capabilities: Capabilities, request: ProviderRequest, route: str) -> None:
    """Refuse, before any network call, a request the model cannot serve: its tier,
    ratio or ``n``, and input images or a mask beyond what it takes (`refuse_inputs`).

    Raises:
        InvalidRequestError: naming the field (``size``, ``aspect_ratio``, ``n``,
            ``images`` or ``mask``).
    """
    reason = capabilities.unsupported_reason(request.size, request.aspect_ratio, request.n)
    if reason is None:
        refuse_inputs(capabilities, request, route)
        return
    field = "size"
    if reason.startswith("aspect"):
        field = "aspect_ratio"
    elif reason.startswith("n="):
        field = "n"
    raise InvalidRequestError(f"{route}: {reason}", field=field, route=route, size=request.size)


def real_timeout_s(timeout_s: float | None) -> float | None:
    """An attempt timeout for an SDK client, at least 1 ms (None: no limit).

    The router also enforces the timeout with a cancel scope; passing it to the SDK makes
    the client give the connection up on its own as well.
    """
    if timeout_s is None:
        return None
    return max(0.001, timeout_s)

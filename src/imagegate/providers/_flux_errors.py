"""How Black Forest Labs answers become imagegate errors: a task's terminal status, and
a non-200 answer with FastAPI's ``{"detail": …}`` body.

Everything after the submit is possibly billed: the task was accepted and priced then.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from imagegate._request import Size
from imagegate.errors import (
    Billing,
    ContentBlocked,
    ImageGateError,
    ProviderError,
    TransportError,
    UpstreamError,
)
from imagegate.providers._http_errors import map_status

__all__ = ["map_http", "terminal_error"]


def terminal_error(status: str, details: object, route: str, size: Size) -> ProviderError:
    """The error for a task that ended without ``Ready``: moderated, failed or gone."""
    said = f": {details}" if details else ""
    where: dict[str, Any] = {"route": route, "size": size, "billing": "possibly_billed"}
    if status == "Request Moderated":
        return ContentBlocked(f"prompt moderated{said}", stage="prompt", reason=status, **where)
    if status == "Content Moderated":
        return ContentBlocked(f"image moderated{said}", stage="output", reason=status, **where)
    if status == "Task not found":
        return UpstreamError("the task is gone (Task not found)", **where)
    return UpstreamError(f"task ended with status {status!r}{said}", **where)


def map_http(
    status: int,
    payload: object,
    text: str,
    headers: Mapping[str, str],
    route: str,
    size: Size,
    billing: Billing,
) -> ImageGateError:
    """A non-200 answer (FastAPI ``{"detail": …}`` bodies) or a 200 that is not JSON.

    ``billing`` is what a failure costs at this stage: anything but ``"not_billed"``
    (after the submit) replaces what the status alone would say.
    """
    if status == 200:
        return TransportError(
            "HTTP 200 with a body that is not a JSON object", route=route, size=size,
            status=status, billing="possibly_billed",
        )  # fmt: skip
    body = payload if isinstance(payload, dict) else {}
    message, param = _detail(body, status)
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


def _detail(body: Mapping[str, Any], status: int) -> tuple[str, str | None]:
    """The message of an error body and the field it names: FastAPI's validation list,
    else ``detail``, ``message`` or ``error``."""
    detail = body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], Mapping):
        return _validation_issues(detail)
    return str(detail or body.get("message") or body.get("error") or f"HTTP {status}"), None


def _validation_issues(detail: list[Any]) -> tuple[str, str | None]:
    """``[{"loc": [..., field], "msg": …}, …]``: every message, and the first field."""
    loc = detail[0].get("loc")
    param = str(loc[-1]) if isinstance(loc, list) and loc else None
    message = "; ".join(str(d.get("msg", d)) for d in detail if isinstance(d, Mapping))
    return message, param

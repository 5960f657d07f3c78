"""The failover ladder: which (route, size) options to try, in which order.

For a request for ``size`` with downgrading allowed down to ``min_size``::

    size     on every primary route, in order
    size - 1 on every primary route          (while allow_downgrade and ≥ min_size)
    ...
    the same ladder on every backup route    (when allow_backup)

Options the route cannot serve (a tier or ratio it does not offer, too many images, input
images it cannot take) are left out and reported (`SkippedOption` with reason
``"unsupported"``), so the router can say why an option was never tried. A request with
input images or a mask that no route can take fails here, before any upstream call, with
an `InvalidRequestError` listing each route's reason. The engine then ranks the options
(`imagegate._ranking`): the ladder is where ranking starts, not always the order tried.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from imagegate._provider import Capabilities
from imagegate._request import ImageRequest, Size
from imagegate._result import SkippedOption
from imagegate._route import Route
from imagegate.errors import InvalidRequestError

__all__ = ["Option", "Plan", "build_plan"]


@dataclass(frozen=True, slots=True)
class Option:
    """One rung of the ladder: try ``route`` at ``size``.

    Attributes:
        index: Position of the route in the router's list.
        route: The route.
        size: The tier to ask for.
        capabilities: What the route's model offers.
    """

    index: int
    route: Route
    size: Size
    capabilities: Capabilities


@dataclass(frozen=True, slots=True)
class Plan:
    """The ordered options for one request, and the ones left out with their reason."""

    options: tuple[Option, ...]
    skipped: tuple[SkippedOption, ...]


def build_plan(
    request: ImageRequest,
    routes: Sequence[Route],
    capabilities: Sequence[Capabilities],
    order: Sequence[int] | None = None,
) -> Plan:
    """Order the (route, size) options for ``request`` (see the module docstring).

    Args:
        request: The validated request.
        routes: Every route of the router.
        capabilities: ``capabilities[i]`` belongs to ``routes[i]``.
        order: Route indexes in the order a routing strategy prefers; the given order
            of ``routes`` by default. Primaries still come before backups.

    Raises:
        InvalidRequestError: the request carries input images or a mask and no option
            is left (``field`` ``"images"``, or ``"mask"`` when only the mask is refused).
    """
    options: list[Option] = []
    skipped: list[SkippedOption] = []
    indexes = list(range(len(routes))) if order is None else list(order)
    tiers = (False, True) if request.allow_backup else (False,)
    for backup_tier in tiers:
        for size in request.sizes_allowed:
            for index in indexes:
                route = routes[index]
                if route.backup is not backup_tier:
                    continue
                caps = capabilities[index]
                reason = caps.unsupported_reason(
                    size, request.aspect_ratio, request.n, images=request.images, mask=request.mask
                )
                if reason is not None:
                    skipped.append(SkippedOption(route.name, size, "unsupported", reason))
                    continue
                options.append(Option(index, route, size, caps))
    if not options and skipped and (request.images or request.mask is not None):
        raise _no_route_takes(skipped)
    return Plan(tuple(options), tuple(skipped))


def _no_route_takes(skipped: Sequence[SkippedOption]) -> InvalidRequestError:
    """The error of a request with inputs that no option can serve: every route's reason,
    once per route and reason (the same at every size), as an empty plan reports them."""
    reasons = list(dict.fromkeys((s.route, s.detail) for s in skipped))
    field = "mask" if all(d.startswith(("a mask", "mask ")) for _, d in reasons) else "images"
    return InvalidRequestError(
        "invalid request: no route could take the request: "
        + "; ".join(f"skipped {route}: {detail}" for route, detail in reasons),
        field=field,
    )

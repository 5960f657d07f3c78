"""`RouterSettings`: the one validated configuration of a `Router`.

``Router(...)`` keyword arguments and ``Router.from_config`` (a TOML file or a mapping)
are both checked by this model, so a setting means the same wherever it is written and
every mistake is reported the same way (`imagegate._config` turns pydantic's errors into
one `ConfigurationError` naming each key). A field takes the Python object or its
configuration-file form:

========================= ==========================================================
field                     file form
========================= ==========================================================
``routes``                a table per route: `Route`'s arguments, other keys are
                          provider options (`imagegate._route_settings`)
``retry``, ``breaker``    a table of the policy's arguments
``hedge``, ``timeouts``,  a table of the policy's arguments, or ``false`` to turn
``admission``             the policy off
``clock``, ``state``,     Python objects only
``registry``
========================= ==========================================================

A policy left out takes the preset's default (`policies`); given, it wins.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Annotated, Any, Final

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from imagegate._presets import PRESETS, OptionOrder, Preset, PresetName
from imagegate._route import Route
from imagegate._route_settings import check_route_names, checked_route
from imagegate._run import Strategy
from imagegate.providers._registry import Registry
from imagegate.resilience.admission import AdmissionPolicy
from imagegate.resilience.breaker import BreakerPolicy
from imagegate.resilience.clock import Clock
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.retry import RetryPolicy
from imagegate.resilience.timeouts import AttemptTimeoutPolicy
from imagegate.state import StateBackend

__all__ = ["SECTIONS", "RouterSettings"]


def _false_is_off(value: object) -> object:
    """``hedge = false`` in a file turns the policy off, like ``hedge=None`` in Python."""
    return None if value is False else value


_RouteItem = Annotated[Route, BeforeValidator(checked_route)]

SECTIONS: Final[dict[str, type]] = {
    "retry": RetryPolicy,
    "breaker": BreakerPolicy,
    "hedge": HedgePolicy,
    "timeouts": AttemptTimeoutPolicy,
    "admission": AdmissionPolicy,
}
"""The policies a configuration sets with a table of their arguments, by key."""

_PRESET_POLICIES: Final = frozenset({"breaker", "hedge", "timeouts", "admission", "order"})
_NONE_MEANS_PRESET: Final = frozenset({"breaker", "order"})  # for the others None is "off"


class RouterSettings(BaseModel):
    """A router's validated configuration: every `Router` argument, by the same name.

    `Router` documents what each field means. ``registry`` comes first because the
    routes are checked against it (an unknown provider, or an option its provider does
    not take, is reported at load rather than when the router opens).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    registry: Registry | None = None
    routes: tuple[_RouteItem, ...]
    preset: PresetName = "balanced"
    clock: Clock | None = None
    attempt_timeout_s: float | None = Field(default=None, gt=0)
    max_in_flight: int = Field(default=16, ge=1)
    retry: RetryPolicy | None = None
    breaker: BreakerPolicy | None = None
    hedge: Annotated[HedgePolicy | None, BeforeValidator(_false_is_off)] = None
    timeouts: Annotated[AttemptTimeoutPolicy | None, BeforeValidator(_false_is_off)] = None
    admission: Annotated[AdmissionPolicy | None, BeforeValidator(_false_is_off)] = None
    order: OptionOrder | None = None
    budget_usd: float | None = Field(default=None, ge=0)
    strategy: Strategy = "priority"
    state: StateBackend | None = None
    failover_on_blocked: bool = False
    seed: int | None = None
    today: datetime.date | None = None

    _route_names = field_validator("routes")(check_route_names)

    def policies(self) -> Preset:
        """The preset's policies, each one given explicitly in its place.

        ``breaker`` and ``order`` given as None mean the preset's; ``hedge``,
        ``timeouts`` and ``admission`` given as None are off.
        """
        given = {name: getattr(self, name) for name in _PRESET_POLICIES & self.model_fields_set}
        chosen = {
            name: value
            for name, value in given.items()
            if value is not None or name not in _NONE_MEANS_PRESET
        }
        return dataclasses.replace(PRESETS[self.preset], **chosen)

    def arguments(self) -> dict[str, Any]:
        """The `Router` keyword arguments these settings were given (the rest default)."""
        return {name: getattr(self, name) for name in self.model_fields_set}

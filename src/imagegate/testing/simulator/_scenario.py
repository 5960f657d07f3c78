"""Scenarios: what the simulated providers do, as data (TOML validated by pydantic).

A scenario is a list of profiles. Each profile applies to a (provider, model glob, size)
and says how long answers take, how often each outcome happens, when the server gives up
(its deadline), which quotas apply and how often the requested size is ignored. The first
profile that matches a request wins, so write specific patterns before catch-alls::

    name = "my-outage"
    description = "AI Studio sheds 4K"

    [[profiles]]
    provider = "gemini"
    model = "gemini-3*"
    size = "4K"
    latency_s = { min = 120, max = 400 }     # or { p50 = 200, p95 = 380 }, or { fixed = 5 }
    fail_latency_s = { min = 0.5, max = 2 }  # fast failures (503, 429, 500 …)
    deadline_s = 600                         # 504 "Deadline expired" after this
    outcomes = { success = 15, deadline = 85 }
    size_ignored = 0.01                      # share of successes at another size
    rpm = 10                                 # quotas: rpm, ipm, rpd, ipd, concurrent

Built-in scenarios live in ``imagegate/testing/scenarios/*.toml``; `load_scenario` takes a
built-in name, a path to a TOML file, or a mapping.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Final, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from imagegate._request import Size

__all__ = [
    "FORCEABLE_KINDS",
    "PLANNED_KINDS",
    "PROVIDERS",
    "BatchProfile",
    "Latency",
    "PlannedKind",
    "Profile",
    "ProviderName",
    "Scenario",
    "ScenarioError",
    "builtin_scenarios",
    "load_scenario",
]

ProviderName = Literal["gemini", "vertex", "openai", "openai_compatible", "flux"]
"""The five simulated providers."""

PROVIDERS: Final[tuple[ProviderName, ...]] = get_args(ProviderName)

PlannedKind = Literal[
    "success",
    "rate_limited",
    "quota_exhausted",
    "overloaded",
    "deadline",
    "internal",
    "reset",
    "truncated",
    "html_502",
    "slow_body",
    "prompt_blocked",
    "image_safety",
    "text_refusal",
]
"""Outcomes a profile can weigh. ``size_ignored`` is a probability on successes instead."""

PLANNED_KINDS: Final[tuple[str, ...]] = get_args(PlannedKind)
FORCEABLE_KINDS: Final[tuple[str, ...]] = (*PLANNED_KINDS, "size_ignored")
"""Kinds a prompt marker (``[sim:KIND]``) can force: every planned kind and size_ignored."""

_STRICT = ConfigDict(frozen=True, extra="forbid")


class ScenarioError(ValueError):
    """A scenario cannot be found or is invalid; the message says where and why."""


class Latency(BaseModel):
    """A distribution of simulated seconds, in one of three forms.

    - ``{min = a, max = b}``: uniform between a and b;
    - ``{p50 = m, p95 = q}``: log-normal with that median and 95th percentile;
    - ``{fixed = s}``: always s.
    """

    model_config = _STRICT

    min: float | None = Field(default=None, ge=0)
    max: float | None = Field(default=None, ge=0)
    p50: float | None = Field(default=None, gt=0)
    p95: float | None = Field(default=None, gt=0)
    fixed: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one_form(self) -> Latency:
        forms = {
            "min/max": self.min is not None or self.max is not None,
            "p50/p95": self.p50 is not None or self.p95 is not None,
            "fixed": self.fixed is not None,
        }
        given = [name for name, present in forms.items() if present]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of {min, max}, {p50, p95} or {fixed}"
                + (f"; got {' and '.join(given)}" if given else "")
            )
        if forms["min/max"]:
            _check_pair("min", self.min, "max", self.max)
        if forms["p50/p95"]:
            _check_pair("p50", self.p50, "p95", self.p95)
        return self


def _check_pair(low_name: str, low: float | None, high_name: str, high: float | None) -> None:
    """Both bounds of a form given, the first not above the second."""
    if low is None or high is None:
        raise ValueError(f"{low_name} and {high_name} go together")
    if low > high:
        raise ValueError(f"{low_name} ({low}) is larger than {high_name} ({high})")


def _latency(value: float | Mapping[str, float] | Latency) -> Any:
    if isinstance(value, int | float):
        return {"fixed": value}
    return value


def _only_success() -> dict[PlannedKind, float]:
    return {"success": 1.0}


LatencyField = Annotated[Latency, Field(description="simulated seconds")]


class Profile(BaseModel):
    """How one (provider, model pattern, size) behaves.

    Attributes:
        provider: Which simulated provider this applies to.
        model: A glob on the model id (``"gemini-3*"``, ``"*"``).
        size: ``"1K"``, ``"2K"``, ``"4K"``, a list of them, or ``"*"`` for any.
        latency_s: Time to a successful answer, and to outcomes that come after the work
            (safety block, text refusal, reset, truncated or slow body).
        fail_latency_s: Time to a fast failure (429, 503, 500, HTML 502, prompt blocked).
        deadline_s: The server's own deadline: a ``deadline`` outcome, or a success that
            would take longer, is answered 504 after this many seconds.
        outcomes: Relative weights of the outcomes (any positive numbers).
        size_ignored: Probability that a success is delivered at the next tier down
            (1K: half each side).
        trickle_s: How long a ``slow_body`` outcome takes to send its body.
        retry_after_s: The retry hint sent with a planned ``rate_limited``.
        rpm: Requests per minute; above it, 429.
        ipm: Images per minute (requests weighted by ``n``).
        rpd: Requests per day; above it, the per-day quota error until the daily reset.
        ipd: Images per day, likewise.
        concurrent: Requests (Flux: active tasks) in flight at once; above it, 429.
        quota_scope: Count quotas per ``"model"`` or across the whole ``"provider"``.
        price_usd: Price per image, reported where the provider reports cost.
    """

    model_config = _STRICT

    provider: ProviderName
    model: str = "*"
    size: Size | Literal["*"] | tuple[Size, ...] = "*"
    latency_s: LatencyField = Field(default_factory=lambda: Latency(min=5, max=15))
    fail_latency_s: LatencyField = Field(default_factory=lambda: Latency(min=0.3, max=2))
    deadline_s: float = Field(default=600.0, gt=0)
    outcomes: dict[PlannedKind, float] = Field(default_factory=_only_success)
    size_ignored: float = Field(default=0.0, ge=0, le=1)
    trickle_s: LatencyField = Field(default_factory=lambda: Latency(min=20, max=60))
    retry_after_s: LatencyField = Field(default_factory=lambda: Latency(min=2, max=60))
    rpm: int | None = Field(default=None, ge=1)
    ipm: int | None = Field(default=None, ge=1)
    rpd: int | None = Field(default=None, ge=1)
    ipd: int | None = Field(default=None, ge=1)
    concurrent: int | None = Field(default=None, ge=1)
    quota_scope: Literal["model", "provider"] = "model"
    price_usd: float | None = Field(default=None, ge=0)

    @field_validator("latency_s", "fail_latency_s", "trickle_s", "retry_after_s", mode="before")
    @classmethod
    def _number_is_fixed(cls, value: Any) -> Any:
        return _latency(value)

    @field_validator("size", mode="before")
    @classmethod
    def _size_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("outcomes", mode="before")
    @classmethod
    def _known_outcomes(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and "size_ignored" in value:
            raise ValueError("size_ignored is not an outcome weight: set `size_ignored = p`")
        return value

    @field_validator("outcomes")
    @classmethod
    def _weights(cls, value: dict[PlannedKind, float]) -> dict[PlannedKind, float]:
        if any(w < 0 for w in value.values()):
            raise ValueError("outcome weights must not be negative")
        if not sum(value.values()) > 0:
            raise ValueError("outcome weights must add up to more than 0")
        return value

    def matches(self, provider: str, model: str, size: Size) -> bool:
        """Whether this profile applies to the request."""
        if provider != self.provider or not fnmatch.fnmatchcase(model, self.model):
            return False
        if self.size == "*":
            return True
        return size == self.size if isinstance(self.size, str) else size in self.size


class BatchProfile(BaseModel):
    """How the simulated Gemini Batch API treats every job (a scenario's ``[batch]``).

    Google's Batch API guide (https://ai.google.dev/gemini-api/docs/batch-api, "Batch job
    status") targets a 24-hour turnaround and ends a job still pending or running after 48
    hours ``JOB_STATE_EXPIRED``, without results; the defaults follow it.

    Attributes:
        queue_s: Simulated seconds a job stays ``BATCH_STATE_PENDING``.
        run_s: Simulated seconds it then stays ``BATCH_STATE_RUNNING``.
        expire_after_s: A job not done this long after its creation ends
            ``BATCH_STATE_EXPIRED``.
        failed_jobs: Probability that a job ends ``BATCH_STATE_FAILED`` (no results).
        slow_jobs: Probability that a job is too slow to finish before it expires.
        item_errors: Probability that an item of a successful job is answered with a
            per-item error (a ``google.rpc.Status``) instead of a response.
    """

    model_config = _STRICT

    queue_s: LatencyField = Field(default_factory=lambda: Latency(min=60, max=900))
    run_s: LatencyField = Field(default_factory=lambda: Latency(p50=1800, p95=14400))
    expire_after_s: float = Field(default=172_800.0, gt=0)
    failed_jobs: float = Field(default=0.0, ge=0, le=1)
    slow_jobs: float = Field(default=0.0, ge=0, le=1)
    item_errors: float = Field(default=0.0, ge=0, le=1)

    @field_validator("queue_s", "run_s", mode="before")
    @classmethod
    def _number_is_fixed(cls, value: Any) -> Any:
        return _latency(value)


class Scenario(BaseModel):
    """A named world: profiles plus the calendar that daily quotas reset by.

    Attributes:
        name: Shown in logs and the CLI.
        description: One paragraph for humans.
        start: The wall-clock time that simulated second 0 stands for.
        daily_reset_utc_offset_h: Daily quotas reset at midnight of this UTC offset
            (default −8: midnight Pacific, as Google's do).
        markers: Honour ``[sim:...]`` markers in prompts (see `imagegate.testing.simulator`).
        profiles: First match wins.
        batch: How Gemini Batch API jobs behave (`BatchProfile`).
    """

    model_config = _STRICT

    name: str
    description: str = ""
    start: datetime = datetime(2026, 1, 21, 10, 0, tzinfo=UTC)
    daily_reset_utc_offset_h: float = Field(default=-8.0, ge=-14, le=14)
    markers: bool = True
    profiles: tuple[Profile, ...] = Field(min_length=1)
    batch: BatchProfile = Field(default_factory=BatchProfile)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)

    def profile_for(self, provider: str, model: str, size: Size) -> Profile | None:
        """The first profile matching the request, or None when nothing serves it."""
        for profile in self.profiles:
            if profile.matches(provider, model, size):
                return profile
        return None


_BUILTIN_PACKAGE: Final = "imagegate.testing"


def builtin_scenarios() -> list[str]:
    """Names of the scenarios shipped with imagegate, sorted."""
    folder = resources.files(_BUILTIN_PACKAGE) / "scenarios"
    return sorted(
        entry.name.removesuffix(".toml")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml")
    )


def _format_errors(exc: ValidationError, source: str) -> str:
    lines = [f"invalid scenario {source}:"]
    for error in exc.errors():
        where = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" for part in error["loc"]
        ).lstrip(".")
        lines.append(f"  {where or '(top level)'}: {error['msg']}")
    return "\n".join(lines)


def load_scenario(source: str | Path | Mapping[str, Any] | Scenario) -> Scenario:
    """Load a scenario by built-in name, TOML path, mapping, or return it unchanged.

    A string that names a built-in (``"healthy"``) loads it; any other string or `Path`
    is read as a TOML file. A file without ``name`` is named after its stem.

    Raises:
        ScenarioError: the scenario does not exist, is not valid TOML, or does not fit
            the schema; the message names the file and each bad field.
    """
    if isinstance(source, Scenario):
        return source
    if isinstance(source, Mapping):
        return _validated(source, "(mapping)")
    text, label, name = _scenario_text(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {label} is not valid TOML: {exc}") from exc
    data.setdefault("name", name)
    return _validated(data, label)


def _scenario_text(source: str | Path) -> tuple[str, str, str]:
    """The TOML text of a built-in (by name) or a file, how to name it in errors, and the
    scenario's default name."""
    name = str(source)
    if isinstance(source, str) and not name.endswith(".toml") and "/" not in name:
        entry = resources.files(_BUILTIN_PACKAGE) / "scenarios" / f"{name}.toml"
        if not entry.is_file():
            raise ScenarioError(
                f"no built-in scenario {name!r}; built-ins are: {', '.join(builtin_scenarios())}"
                " (or pass a path to a .toml file)"
            )
        return entry.read_text(encoding="utf-8"), f"{name!r}", name
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {path}: {exc}") from exc
    return text, str(path), path.stem


def _validated(data: Mapping[str, Any], label: str) -> Scenario:
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_format_errors(exc, label)) from exc

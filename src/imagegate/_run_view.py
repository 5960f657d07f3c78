"""The run as its pieces see it: what the cursor, the hedging, the attempts and the answer
read from the `imagegate._run.RequestRun` that owns them.

The pieces sit below the run, which builds them; they name it only through `RunView`,
so none of them imports the run back. ``RequestRun`` satisfies it structurally.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from imagegate._deadline import TimeBudget
from imagegate._engine import Engine
from imagegate._otel import RequestTrace, Telemetry
from imagegate._plan import Option
from imagegate._request import ImageRequest
from imagegate._result import Attempt, SkippedOption
from imagegate.guards import GuardPipeline
from imagegate.resilience.budget import ExtraKind

__all__ = ["CursorView", "RunView"]


class CursorView(Protocol):
    """What the pieces read from the run's walk down its ladder (`_cursor.OptionCursor`)."""

    @property
    def options(self) -> Sequence[Option]:
        """The options in the order to try them."""

    @property
    def skipped(self) -> tuple[SkippedOption, ...]:
        """The options left out or skipped so far, with their reason."""

    def untried(self, winner: Option | None) -> tuple[SkippedOption, ...]:
        """Every option the request did not try, with its reason, once it ends."""

    @property
    def blocked(self) -> bool:
        """Whether the prompt was refused (nothing else is tried)."""

    def number(self, option: Option) -> int:
        """The attempt number the next attempt at ``option`` gets."""

    def count(self, option: Option) -> None:
        """An attempt at ``option`` is launched."""

    def why_not(self, option: Option) -> str | None:
        """Why ``option`` cannot be tried now, or None."""

    def fallback_after(self, option: Option) -> bool:
        """Whether an option other than ``option`` is still left to try."""


class RunView(Protocol):
    """What the pieces of a request's run read from it."""

    @property
    def engine(self) -> Engine:
        """The router's engine."""

    @property
    def request(self) -> ImageRequest:
        """The validated request."""

    @property
    def request_id(self) -> str:
        """The id its log events and result carry."""

    @property
    def log(self) -> Any:
        """The engine's logger, bound to the request id."""

    @property
    def time(self) -> TimeBudget:
        """The request's deadline and each size's share of it."""

    @property
    def cursor(self) -> CursorView:
        """The request's position on its ladder."""

    @property
    def guards(self) -> GuardPipeline:
        """The guards every attempt passes."""

    @property
    def attempts(self) -> list[Attempt]:
        """The record of every attempt made so far."""

    @property
    def trace(self) -> RequestTrace | None:
        """The request's telemetry span, while OpenTelemetry traces it."""

    @property
    def telemetry(self) -> Telemetry | None:
        """Where the request reports to OpenTelemetry; None while nothing receives it
        (decided when the request starts)."""

    def peek(self, option: Option) -> str | None:
        """Why a guard says ``option`` cannot be tried now, or None."""

    def spend(self, kind: ExtraKind) -> str | None:
        """Why the guards refuse to pay for an extra attempt of ``kind``, or None."""

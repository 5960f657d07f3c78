"""One attempt from launch to landing (`Flight`), and how it landed (`Landing`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from imagegate._plan import Option
from imagegate._provider import ProviderResponse
from imagegate._result import Attempt
from imagegate._run_view import RunView

__all__ = ["Flight", "Landing"]


@dataclass(slots=True, eq=False)
class Flight:
    """One attempt of a request, from its launch until it lands.

    Attributes:
        run: The request it belongs to.
        option: The (route, size) it tries.
        number: Its attempt number at that option (1 for the first).
        hedge: Whether it was started as a hedge of a slow attempt.
        launched: Clock time of its launch.
        estimate_usd: The catalogue price of what it asks for.
        extra: Whether the request had launched an attempt before this one.
        hedges: Hedges started for it (a main attempt).
        abandoned: Its call ignored cancellation and was left behind.
        taken: What each guard booked at the gate, once through it.
        called_at: Clock time its call started, once started.
        held: What a guard holds for it from launch to landing, by guard.
    """

    run: RunView
    option: Option
    number: int
    hedge: bool
    launched: float
    estimate_usd: float
    extra: bool
    hedges: int = 0
    abandoned: bool = False
    taken: Sequence[Any] | None = None
    called_at: float | None = None
    held: dict[object, Any] = field(default_factory=dict)


# Built for every request: not frozen, since a frozen dataclass's __init__ costs
# several times a plain one's. Never changed once built.
@dataclass(slots=True)
class Landing:
    """How a flight ended.

    Attributes:
        flight: The flight.
        attempt: Its record, when its call was made.
        response: The usable answer, on success.
        skipped: Why it never made its call (listed among the skipped options).
        out_of_time: The deadline ran out before its call: try nothing else.
        stop: What ends the whole request (a `BudgetExceeded`).
    """

    flight: Flight
    attempt: Attempt | None = None
    response: ProviderResponse | None = None
    skipped: str | None = None
    out_of_time: bool = False
    stop: BaseException | None = None

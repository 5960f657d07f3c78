"""The simulator's bill: what each billed event costs, online or in a batch.

Prices are the scenario's: the ``price_usd`` of the profile that served the event
(per image); an event whose profile sets none is listed with ``usd=None``. A Gemini
Batch API item costs half of it: Google bills batch requests at 50% of the standard
price (https://ai.google.dev/gemini-api/docs/batch-api). The simulator applies that rule
itself, not imagegate's catalogue, so a client's own batch pricing can be checked
against it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from imagegate.testing.simulator._events import SimEvent
from imagegate.testing.simulator._scenario import Scenario

__all__ = ["BATCH_DISCOUNT", "SimCharge", "charges"]

BATCH_DISCOUNT: Final = 0.5
"""What a batch item costs, as a share of the online price."""


@dataclass(frozen=True, slots=True)
class SimCharge:
    """One billed event.

    Attributes:
        provider: The simulated provider.
        model: The model asked for.
        size: The tier asked for.
        prompt: The prompt (it names the item).
        batch: Whether it was an item of a Batch API job.
        usd: What it costs, or None when no price is known for it.
    """

    provider: str
    model: str
    size: str
    prompt: str
    batch: bool
    usd: float | None


def charges(events: Iterable[SimEvent], scenario: Scenario) -> list[SimCharge]:
    """The bill: one `SimCharge` per billed event, in the log's order."""
    bill: list[SimCharge] = []
    for event in events:
        if not event.billed:
            continue
        price = _price(event, scenario)
        if price is not None and event.batch:
            price *= BATCH_DISCOUNT
        bill.append(
            SimCharge(event.provider, event.model, event.size, event.prompt, event.batch, price)
        )
    return bill


def _price(event: SimEvent, scenario: Scenario) -> float | None:
    profile = scenario.profile_for(event.provider, event.model, event.size)
    if profile is None or profile.price_usd is None:
        return None
    return profile.price_usd * event.n

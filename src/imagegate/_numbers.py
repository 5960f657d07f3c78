"""Figures as reports carry them: money to 1/10000 of a cent, times to the millisecond.

Sums of float dollars leave noise (``6.66e-16`` reserved with nothing in flight,
``0.30000000000000004`` billed); what `health()`, `spend()`, `ImageResult.to_dict` and the
log events report is rounded here, so it prints and serialises as the figure it is.
"""

from __future__ import annotations

from typing import Final

__all__ = ["ms", "ratio", "usd"]

_USD_DIGITS: Final = 6  # 1/10000 of a cent
_S_DIGITS: Final = 3
_RATIO_DIGITS: Final = 4


def usd(amount: float) -> float:
    """``amount`` dollars rounded to 1/10000 of a cent (``-0.0`` becomes ``0.0``)."""
    return round(amount, _USD_DIGITS) + 0.0


def ms(seconds: float) -> float:
    """``seconds`` rounded to the millisecond."""
    return round(seconds, _S_DIGITS) + 0.0


def ratio(share: float) -> float:
    """A share (0–1) to four digits: 0.1% steps and a bit."""
    return round(share, _RATIO_DIGITS) + 0.0

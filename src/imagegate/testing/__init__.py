"""Test helpers shipped with imagegate: `FakeProvider` and the upstream `Simulator`.

Use them to test your own service against scripted failures or a simulated outage,
without keys or network (see docs/testing.md).
"""

from __future__ import annotations

from imagegate.testing._fake import FakeCall, FakeOutcome, FakeProvider, fail, succeed
from imagegate.testing._images import make_jpeg, make_png
from imagegate.testing.simulator import Scenario, SimEvent, Simulator

__all__ = [
    "FakeCall",
    "FakeOutcome",
    "FakeProvider",
    "Scenario",
    "SimEvent",
    "Simulator",
    "fail",
    "make_jpeg",
    "make_png",
    "succeed",
]

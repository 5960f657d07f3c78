"""A local server that speaks five image providers' protocols, with seeded faults.

`Simulator` runs a real aiohttp server on 127.0.0.1 that the official SDKs (google-genai
for AI Studio and Vertex AI, openai for OpenAI Images and OpenAI-compatible aggregators)
and a plain HTTP client (Black Forest Labs Flux) cannot tell from the real services,
including the ways those fail. What each attempt returns is decided by a scenario (TOML
data, see `Scenario`) and a seed, deterministically (see `World`), so tests, demos and
benchmarks run without keys, without the internet, and reproducibly::

    from imagegate.testing.simulator import Simulator

    async with Simulator(scenario="outage-2026-01-21", seed=0, time_scale=0.001) as sim:
        sim.base_url("gemini")      # google-genai HttpOptions(base_url=...)
        sim.api_key("gemini")       # the key it accepts
        ...
        sim.events                  # one SimEvent per upstream attempt

It also serves Gemini's Batch API (``client.aio.batches``: jobs that wait, run and end
as the scenario's ``[batch]`` table says; ``sim.charges()`` bills their items at half
price).

Force an outcome in a test with a prompt marker: ``"a cat [sim:overloaded]"``,
``"a cat [sim:rate_limited*2,success]"``, ``"a cat [sim@vertex/4K:deadline]"``; or build a
`Scenario` in code. Built-in scenarios: ``healthy``, ``outage-2026-01-21``,
``overload-503``, ``free-tier``.
"""

from imagegate.testing.simulator._billing import SimCharge
from imagegate.testing.simulator._events import SimEvent
from imagegate.testing.simulator._quota import QuotaVerdict
from imagegate.testing.simulator._scenario import (
    FORCEABLE_KINDS,
    PLANNED_KINDS,
    PROVIDERS,
    BatchProfile,
    Latency,
    Profile,
    Scenario,
    ScenarioError,
    builtin_scenarios,
    load_scenario,
)
from imagegate.testing.simulator._server import (
    SimStatistics,
    Simulator,
    describe_simulator,
    serve_forever,
)
from imagegate.testing.simulator._world import (
    BILLED_KINDS,
    IMAGE_KINDS,
    PlannedOutcome,
    World,
    parse_markers,
)

__all__ = [
    "BILLED_KINDS",
    "FORCEABLE_KINDS",
    "IMAGE_KINDS",
    "PLANNED_KINDS",
    "PROVIDERS",
    "BatchProfile",
    "Latency",
    "PlannedOutcome",
    "Profile",
    "QuotaVerdict",
    "Scenario",
    "ScenarioError",
    "SimCharge",
    "SimEvent",
    "SimStatistics",
    "Simulator",
    "World",
    "builtin_scenarios",
    "describe_simulator",
    "load_scenario",
    "parse_markers",
    "serve_forever",
]

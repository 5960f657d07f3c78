"""``imagegate bench --measure throughput``: how rounds are timed and summed up (never
how fast anything is)."""

from __future__ import annotations

import json

import anyio
import anyio.lowlevel
import pytest

from imagegate.bench._throughput import Call, Round, summarize, throughput, timed_rounds


class _Clocks:
    """A CPU clock and a wall clock that only the calls below move."""

    def __init__(self) -> None:
        self.cpu_s = 0.0
        self.wall_s = 0.0

    def cpu(self) -> float:
        return self.cpu_s

    def wall(self) -> float:
        return self.wall_s


async def test_rounds_are_timed_on_the_clocks_given_after_a_discarded_warm_up() -> None:
    """Each way sends the same requests from the same number of workers; a round's CPU
    and wall seconds are what its requests spent on each clock; the warm-up is not kept."""
    clocks = _Clocks()
    sent: dict[str, list[int]] = {"sdk": [], "adapter": [], "deadline": [], "router": []}
    in_flight, most_in_flight = 0, 0

    def way(name: str, cpu_s: float) -> Call:
        async def call(i: int) -> object:
            nonlocal in_flight, most_in_flight
            in_flight += 1
            most_in_flight = max(most_in_flight, in_flight)
            await anyio.lowlevel.checkpoint()  # the others' turn: workers overlap
            sent[name].append(i)
            clocks.cpu_s += cpu_s
            clocks.wall_s += 0.5
            in_flight -= 1
            return i

        return call

    ways = {
        "sdk": way("sdk", 0.001),
        "adapter": way("adapter", 0.002),
        "deadline": way("deadline", 0.0025),
        "router": way("router", 0.004),
    }
    timed = await timed_rounds(
        ways, requests=10, concurrency=3, rounds=2, warmup=4, cpu=clocks.cpu, wall=clocks.wall
    )
    for name, per_cpu_s in (("sdk", 1000), ("adapter", 500), ("deadline", 400), ("router", 250)):
        assert sorted(sent[name]) == sorted([*range(4), *range(10), *range(10)])
        assert len(timed[name]) == 2
        for r in timed[name]:
            assert r.requests == 10
            assert r.per_cpu_s == pytest.approx(per_cpu_s)
            assert r.wall_s == pytest.approx(5.0)
    assert most_in_flight == 3


def test_the_summary_takes_medians_and_ratios_within_each_round() -> None:
    """Rates are medians over the rounds; router/adapter, deadline/adapter and adapter/SDK
    are taken within each round (median and range), and so is what the router and the
    deadline cost per request above the adapter; wall-time rates come last, apart."""

    def rounds(*cpu_s: float) -> list[Round]:
        return [Round(100, c, 2 * c) for c in cpu_s]

    result = summarize(
        "gemini",
        requests=100,
        concurrency=4,
        rounds={
            "sdk": rounds(0.1, 0.1, 0.1),
            "adapter": rounds(0.2, 0.1, 0.25),
            "deadline": rounds(0.2, 0.125, 0.25),
            "router": rounds(0.25, 0.2, 0.25),
        },
    )
    assert (result.sdk_per_cpu_s, result.adapter_per_cpu_s) == (1000, 500)
    assert result.router_per_cpu_s == 400
    assert result.router_vs_adapter == pytest.approx(0.8)  # of 0.8, 0.5 and 1.0
    assert result.router_vs_adapter_range == pytest.approx((0.5, 1.0))
    assert result.adapter_vs_sdk == pytest.approx(0.5)  # of 0.5, 1.0 and 0.4
    assert result.adapter_vs_sdk_range == pytest.approx((0.4, 1.0))
    assert result.router_vs_sdk == pytest.approx(0.4)
    assert result.deadline_per_cpu_s == 500  # of 500, 800 and 400
    assert result.deadline_vs_adapter == pytest.approx(1.0)  # of 1.0, 0.8 and 1.0
    assert result.deadline_vs_adapter_range == pytest.approx((0.8, 1.0))
    # Per request, in µs: router 500, 1000 and 0 above the adapter; deadline 0, 250, 0.
    assert result.router_extra_us == pytest.approx(500)
    assert result.deadline_extra_us == pytest.approx(0)
    assert (result.sdk_rps, result.adapter_rps, result.router_rps) == (500, 250, 200)
    assert json.loads(json.dumps(result.to_json()))["rounds"]["sdk"][0] == {
        "requests": 100,
        "cpu_s": 0.1,
        "wall_s": 0.2,
    }


async def test_a_small_run_against_the_simulator_in_its_own_process() -> None:
    """Against the simulator in a child process, every way's rounds are timed in this
    process's CPU time and in wall time, the warm-up left out."""
    (result,) = await throughput(providers=("openai",), requests=6, concurrency=2, rounds=2)
    assert result.provider == "openai"
    for way in ("sdk", "adapter", "deadline", "router"):
        assert [r.requests for r in result.rounds[way]] == [6, 6]
        assert all(r.cpu_s > 0 and r.wall_s > 0 for r in result.rounds[way])
    assert result.router_vs_adapter > 0
    assert result.router_per_cpu_s > 0
    assert result.router_rps > 0
    assert result.payload == "small"
    assert 0 < result.image_bytes < 100_000


async def test_realistic_payloads_are_the_byte_sizes_of_real_answers() -> None:
    """With ``payload="realistic"`` every way gets images as large as real ones: a 1K
    image of hundreds of kilobytes, where the default's is a few kilobytes."""
    (result,) = await throughput(
        providers=("gemini",), requests=2, concurrency=1, rounds=1, payload="realistic"
    )
    assert result.payload == "realistic"
    assert result.image_bytes > 250_000
    assert all(r.requests == 2 for way in result.rounds.values() for r in way)

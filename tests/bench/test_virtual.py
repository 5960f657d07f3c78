"""Virtual time: the loop's clock jumps only when nothing can run, and a seed always gives
the same figures, however busy the machine is."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aiohttp import web

from imagegate.bench import bench_main
from imagegate.bench._figures import differences, figures
from imagegate.bench._virtual import VirtualTimeLoop, run_virtual

from .conftest import needs


def test_sleeping_jumps_to_the_next_timer() -> None:
    """Ten simulated minutes of sleeping take no real time, and timers keep their order."""
    fired: list[tuple[str, float]] = []

    async def main() -> float:
        loop = asyncio.get_running_loop()
        assert isinstance(loop, VirtualTimeLoop)
        loop.call_later(2.5, lambda: fired.append(("later", loop.time())))
        await asyncio.sleep(600)
        fired.append(("slept", loop.time()))
        async with asyncio.timeout(30):
            await asyncio.sleep(10)
        return loop.time()

    # Exact clock readings: a real 600 s sleep would read otherwise (and outlast the
    # test's timeout); how long the run took in real time is the benchmark's business.
    assert run_virtual(main()) == 610.0
    assert fired == [("later", 2.5), ("slept", 600.0)]


def test_a_duration_does_not_depend_on_where_the_clock_stood() -> None:
    """The same sleeps measure the same durations, to the last bit, whether the clock stood
    at 0 or at an odd time an earlier run left it at (the clock stops on exact ticks)."""

    async def durations(start: float) -> list[float]:
        loop = asyncio.get_running_loop()
        await asyncio.sleep(start)
        measured = []
        for delay in (0.1, 12.345678901, 1 / 3, 599.99):
            before = loop.time()
            await asyncio.sleep(delay)
            measured.append(loop.time() - before)
        return measured

    at_zero = run_virtual(durations(0))
    assert run_virtual(durations(1000.3)) == at_zero
    assert run_virtual(durations(86_399.123_456_7)) == at_zero
    assert all(
        abs(d - e) < 1e-6 for d, e in zip(at_zero, (0.1, 12.345678901, 1 / 3, 599.99), strict=True)
    )


def test_work_in_a_thread_costs_no_simulated_time() -> None:
    """A job that keeps its thread busy holds the clock: the timer due in 1 s waits for it."""

    async def main() -> tuple[float, list[str]]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        timer = loop.call_later(1, order.append, "timer")

        def busy() -> str:
            deadline = time.perf_counter() + 0.05
            while time.perf_counter() < deadline:
                pass
            return "job"

        order.append(await loop.run_in_executor(None, busy))
        seen = loop.time()
        await asyncio.sleep(2)
        assert timer.cancelled() is False
        return seen, order

    seen, order = run_virtual(main())
    assert seen == 0.0
    assert order == ["job", "timer"]


def test_a_job_reading_a_pipe_holds_the_clock() -> None:
    """A job blocked reading a child process's output waits on work outside the simulated
    world, not on the network: like CPU work it costs no simulated time, so the timer due
    in 1 s fires after it (the OpenAI SDK reads `uname -p` this way on a first request)."""

    async def main() -> tuple[float, list[str]]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        loop.call_later(1, order.append, "timer")

        def child() -> str:
            return subprocess.check_output(["sh", "-c", "sleep 0.05; echo job"], text=True)

        order.append((await loop.run_in_executor(None, child)).strip())
        seen = loop.time()
        await asyncio.sleep(2)
        return seen, order

    seen, order = run_virtual(main())
    assert seen == 0.0
    assert order == ["job", "timer"]


def test_a_thread_blocked_on_a_loop_server_lets_time_move() -> None:
    """A blocking HTTP call from a thread to a server in the loop that answers after 30
    simulated seconds: the thread waits, the clock jumps, the answer comes at exactly 30."""

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def main() -> tuple[str, float]:
        loop = asyncio.get_running_loop()
        app = web.Application()
        app.router.add_get("/", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:

            def fetch() -> str:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as answer:
                    return str(answer.read().decode())

            text = await loop.run_in_executor(None, fetch)
            return text, loop.time()
        finally:
            await runner.cleanup()

    text, at = run_virtual(main())
    assert text == "late"
    assert at == 30.0  # exactly: a real wait would read 30 s and a little more


def test_executor_results_arrive_in_submission_order() -> None:
    """The job that finishes first in real time does not overtake an earlier one."""

    async def main() -> list[int]:
        loop = asyncio.get_running_loop()
        arrived: list[int] = []

        async def one(index: int, real_s: float) -> None:
            await loop.run_in_executor(None, time.sleep, real_s)
            arrived.append(index)

        await asyncio.gather(one(0, 0.06), one(1, 0.0), one(2, 0.03))
        return arrived

    assert run_virtual(main()) == [0, 1, 2]


@contextmanager
def _busy_thread() -> Iterator[None]:
    """Another thread keeping the interpreter busy (and taking the GIL) meanwhile."""
    stop = threading.Event()

    def spin() -> None:
        total = 0
        while not stop.is_set():
            total += sum(range(1000))

    worker = threading.Thread(target=spin, daemon=True)
    worker.start()
    try:
        yield
    finally:
        stop.set()
        worker.join()


def _bench(path: Path, *extra: str) -> int:
    return bench_main(
        [
            "--requests", "8", "--concurrency", "4", "--quiet", "--seed", "3",
            "--contenders", "waterfall,backoff,imagegate,oracle",
            "--json", str(path), *extra,
        ]
    )  # fmt: skip


def test_same_seed_same_figures_even_under_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two runs with one seed give the same JSON but for the wall times, the second one
    while another thread keeps the interpreter busy."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _bench(first) == 0
    with _busy_thread():
        assert _bench(second, "--same-as", str(first)) == 0
    assert "same figures as" in capsys.readouterr().out
    a, b = (json.loads(p.read_text()) for p in (first, second))
    assert figures(a) == figures(b)
    assert a["config"]["time_scale"] is None
    assert "wall_s" in a["scenarios"][0]["metrics"]["imagegate"]


def test_same_as_lists_what_differs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Another seed gives other figures: --same-as says where, and exits 1."""
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    assert _bench(first) == 0
    status = bench_main(
        [
            "--requests", "8", "--concurrency", "4", "--quiet", "--seed", "4",
            "--contenders", "waterfall,backoff,imagegate,oracle",
            "--json", str(second), "--same-as", str(first),
        ]
    )  # fmt: skip
    assert status == 1
    assert "figures differ from" in capsys.readouterr().out


def test_differences_name_the_path() -> None:
    """Each difference is reported with its place in the document; wall times are ignored."""
    a = {"scenarios": [{"metrics": {"x": {"p95_s": 1.0, "wall_s": 3.0}}}], "machine": {}}
    b = {"scenarios": [{"metrics": {"x": {"p95_s": 2.0, "wall_s": 9.0}}}], "machine": {"n": 1}}
    assert differences(figures(a), figures(b)) == ["$.scenarios[0].metrics.x.p95_s: 1.0 != 2.0"]


def test_litellm_rows_and_the_targets_against_it_are_not_compared() -> None:
    """LiteLLM's figures are not fixed by a seed: they and the target that quotes them are
    left out, everything else is compared."""
    a = {
        "metrics": {"litellm": {"p95_s": 1.0}, "imagegate": {"p95_s": 5.0}},
        "targets": [
            {"name": "beats litellm on success and p95", "value": "x", "met": True},
            {"name": "beats waterfall on success and p95", "value": "y", "met": True},
        ],
    }
    b = {
        "metrics": {"litellm": {"p95_s": 2.0}, "imagegate": {"p95_s": 6.0}},
        "targets": [
            {"name": "beats litellm on success and p95", "value": "z", "met": False},
            {"name": "beats waterfall on success and p95", "value": "y", "met": True},
        ],
    }
    assert differences(figures(a), figures(b)) == ["$.metrics.imagegate.p95_s: 5.0 != 6.0"]


def test_verdicts_across_seeds_against_litellm_are_not_compared() -> None:
    """Across seeds the verdicts are keyed by the target's name: those against LiteLLM
    (a preset's too) are left out like the targets they come from; the others compared."""

    def document(against_litellm: bool, against_waterfall: bool) -> dict[str, object]:
        return {
            "across_seeds": {
                "verdicts": {
                    "healthy": {
                        "beats litellm on success and p95": {"7": against_litellm},
                        "imagegate-balanced: beats litellm on success and p95": {
                            "7": against_litellm
                        },
                        "beats waterfall on success and p95": {"7": against_waterfall},
                    }
                }
            }
        }

    assert differences(figures(document(True, True)), figures(document(False, True))) == []
    assert differences(figures(document(True, True)), figures(document(True, False))) == [
        "$.across_seeds.verdicts.healthy.beats waterfall on success and p95.7: true != false"
    ]


@needs("litellm")
def test_the_others_figures_do_not_depend_on_litellm_running_before_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same contenders give the same figures whether LiteLLM ran first on the same
    clock or not at all; --same-as says LiteLLM was left out."""
    alone, after = tmp_path / "alone.json", tmp_path / "after.json"
    common = ["--requests", "8", "--concurrency", "4", "--quiet", "--seed", "5"]
    assert bench_main([*common, "--contenders", "waterfall,imagegate", "--json", str(alone)]) == 0
    assert (
        bench_main([*common, "--contenders", "litellm,waterfall,imagegate", "--json", str(after)])
        == 0
    )
    a, b = (json.loads(p.read_text())["scenarios"][0] for p in (alone, after))
    for key in ("metrics", "records"):
        for name in ("waterfall", "imagegate"):
            assert figures(a[key][name]) == figures(b[key][name]), (key, name)
    assert "litellm" in b["metrics"]
    capsys.readouterr()
    again = [*common, "--contenders", "litellm,waterfall,imagegate", "--json"]
    assert bench_main([*again, str(tmp_path / "again.json"), "--same-as", str(after)]) == 0
    assert "litellm (no seed fixes its figures) aside" in capsys.readouterr().out


def test_parse_seeds() -> None:
    """Ranges and lists, in order, without repeats; malformed input is refused."""
    from imagegate.bench._seeds import parse_seeds

    assert parse_seeds("0-3") == (0, 1, 2, 3)
    assert parse_seeds("4,1,1-2") == (4, 1, 2)
    for bad in ("3-1", "a", "1-", "0-5000"):
        with pytest.raises(ValueError, match="seed"):
            parse_seeds(bad)


def test_seeds_report_median_range_and_verdicts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--seeds runs each seed and reports every figure's spread and the targets per seed."""
    out = tmp_path / "seeds.json"
    status = bench_main(
        [
            "--requests", "4", "--concurrency", "4", "--quiet", "--seeds", "0-2",
            "--contenders", "waterfall,imagegate,oracle", "--json", str(out),
        ]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "over seeds 0, 1, 2" in printed
    assert "beats waterfall on success and p95" in printed
    document = json.loads(out.read_text())
    assert document["config"]["seeds"] == [0, 1, 2]
    assert set(document["per_seed"]) == {"0", "1", "2"}
    spread = document["across_seeds"]["figures"]["outage-2026-01-21"]["imagegate"]["p95_s"]
    assert spread["low"] <= spread["median"] <= spread["high"]
    verdicts = document["across_seeds"]["verdicts"]["outage-2026-01-21"]
    assert set(verdicts["beats waterfall on success and p95"]) == {"0", "1", "2"}


def test_contenders_in_worker_processes_give_the_same_figures(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--jobs 2 runs the contenders (of one seed, or of several) in two processes at once,
    with the figures of one run in this process."""
    common = [
        "--requests", "4", "--concurrency", "4", "--quiet",
        "--contenders", "waterfall,imagegate,oracle", "--json",
    ]  # fmt: skip
    for seeds in (["--seed", "3"], ["--seeds", "0-2"]):
        one, two = tmp_path / "one.json", tmp_path / "two.json"
        assert bench_main([*common, str(one), *seeds]) == 0
        assert bench_main([*common, str(two), *seeds, "--jobs", "2", "--same-as", str(one)]) == 0
        assert "same figures as" in capsys.readouterr().out
        assert json.loads(one.read_text())["config"] == json.loads(two.read_text())["config"]


def test_jobs_are_refused_on_a_wall_clock_and_when_malformed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Several runs at once on a wall clock would slow each other: refused, as is a
    malformed IMAGEGATE_BENCH_JOBS."""
    argv = ["--requests", "2", "--quiet", "--contenders", "waterfall"]
    assert bench_main([*argv, "--jobs", "2", "--time-scale", "0.01"]) == 2
    assert "--jobs needs virtual time" in capsys.readouterr().err
    monkeypatch.setenv("IMAGEGATE_BENCH_JOBS", "many")
    assert bench_main(argv) == 2
    assert "IMAGEGATE_BENCH_JOBS must be a whole number" in capsys.readouterr().err


def test_demo_runs_on_virtual_time_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --time-scale the demo says its times are virtual, and two runs agree."""
    from imagegate.bench import demo_main

    outputs = []
    for _ in range(2):
        argv = [
            "--requests",
            "4",
            "--concurrency",
            "4",
            "--seed",
            "2",
            "--contenders",
            "waterfall,imagegate",
        ]
        assert demo_main(argv) == 0
        out = capsys.readouterr().out
        assert "virtual time" in out
        outputs.append([line for line in out.splitlines() if "delivered" in line])
    assert outputs[0] == outputs[1]


def test_a_contender_registered_outside_imagegate_runs_in_this_process_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker process starts from a fresh import, where only imagegate's contenders
    exist: with one registered elsewhere the default is one run at a time, here; asked
    for explicitly, --jobs is honoured."""
    from imagegate.bench import CONTENDERS, ImagegateContender, register_contender
    from imagegate.bench._parallel import jobs_for

    monkeypatch.delenv("IMAGEGATE_BENCH_JOBS")
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    builtin = (*CONTENDERS, "oracle")
    try:
        register_contender("mine", lambda: ImagegateContender("mine"), "test")
        assert jobs_for(None, virtual=True, contenders=builtin) == 4
        assert jobs_for(None, virtual=True, contenders=("waterfall", "mine")) == 1
        assert jobs_for(3, virtual=True, contenders=("mine",)) == 3
    finally:
        CONTENDERS.pop("mine", None)

"""`imagegate.batch.run` on FakeProvider: what a second run sends, what it skips, and how
a bad item, a torn journal line or a corrupt journal is handled."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from imagegate import Route, Router
from imagegate.batch import JOURNAL, RESULTS, BatchItem, ItemResult, Progress, read_requests, run
from imagegate.errors import ConfigurationError, ContentBlocked
from imagegate.testing import FakeProvider, fail, succeed
from imagegate.testing._images import make_png


def _router(fake: FakeProvider) -> Router:
    """A router on the loop's clock: the journal is written in worker threads, and a
    fake clock that jumps while every task waits on one would fire timers early."""
    return Router([Route(fake, model="m")], order="ladder")


@pytest.fixture
def fake() -> FakeProvider:
    """A FakeProvider on the loop's clock (instant unless scripted)."""
    return FakeProvider()


def _items(count: int, **arguments: Any) -> list[dict[str, Any]]:
    return [{"id": f"i{n}", "prompt": f"i{n} a cat", **arguments} for n in range(count)]


async def _run(router: Router, items: Iterable[Any], out: Path, **kwargs: Any) -> list[ItemResult]:
    async with router:
        return [r async for r in run(router, items, out, **kwargs)]


def _prompts(fake: FakeProvider) -> list[str]:
    return [call.request.prompt for call in fake.calls]


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_a_second_run_sends_nothing_already_finished(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """Run twice: the second run reports every item as resumed and calls nothing."""
    first = await _run(_router(fake), _items(5), tmp_path)
    assert sorted(r.id for r in first if r.ok and not r.resumed) == [f"i{n}" for n in range(5)]
    assert all((tmp_path / r.file).read_bytes()[:4] == b"\x89PNG" for r in first if r.file)
    calls = len(fake.calls)
    second = await _run(_router(fake), _items(5), tmp_path)
    assert len(fake.calls) == calls
    assert all(r.resumed and r.ok for r in second)
    assert len(_lines(tmp_path / RESULTS)) == 5
    assert [r["run"] for r in _lines(tmp_path / JOURNAL) if r["type"] == "run"] == [1, 2]


async def test_items_cut_off_run_again_and_only_they(fake: FakeProvider, tmp_path: Path) -> None:
    """Leaving the loop mid-batch cancels what is in flight; the next run sends exactly
    the items without a "finished" record."""
    fake.script("4K", succeed(latency_s=1000.0), succeed(latency_s=1000.0))
    items = [*_items(4), {"id": "slow1", "prompt": "slow1", "size": "4K"}]
    items.append({"id": "slow2", "prompt": "slow2", "size": "4K"})
    async with _router(fake) as router:
        results = run(router, items, tmp_path, concurrency=6)
        async with aclosing(results) as answers:
            done = [r.id async for r, _ in _zip(answers, range(4))]
    assert sorted(done) == ["i0", "i1", "i2", "i3"]
    journal = _lines(tmp_path / JOURNAL)
    assert {r["id"] for r in journal if r["type"] == "finished"} == {"i0", "i1", "i2", "i3"}
    fake.calls.clear()
    fake.default = succeed()
    again = await _run(_router(fake), items, tmp_path)
    assert sorted(_prompts(fake)) == ["slow1", "slow2"]
    assert sorted(r.id for r in again if not r.resumed) == ["slow1", "slow2"]
    assert len(_lines(tmp_path / RESULTS)) == 6


async def _zip(
    answers: AsyncIterator[ItemResult], limit: range
) -> AsyncIterator[tuple[ItemResult, int]]:
    for n in limit:
        yield await anext(answers), n


async def test_retry_failed_runs_only_the_failed_items_again(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """A failed item stays failed on resume; with retry_failed it runs again, and the
    delivered ones are still not sent."""
    fake.script("2K", fail(ContentBlocked("no", stage="prompt")))
    items = [
        *_items(3),
        {"id": "blocked", "prompt": "blocked", "size": "2K", "allow_downgrade": False},
    ]
    first = await _run(_router(fake), items, tmp_path)
    failed = next(r for r in first if r.id == "blocked")
    assert failed.status == "failed"
    assert "blocked" in (failed.error or "")
    fake.calls.clear()
    await _run(_router(fake), items, tmp_path)
    assert fake.calls == []
    fake.script("2K", succeed())
    again = await _run(_router(fake), items, tmp_path, retry_failed=True)
    assert _prompts(fake) == ["blocked"]
    assert next(r for r in again if r.id == "blocked").ok
    results = {r["id"]: r for r in _lines(tmp_path / RESULTS)}
    assert len(results) == 4
    assert results["blocked"]["status"] == "ok"


async def test_bad_items_fail_with_their_reason_and_the_batch_goes_on(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """No id, an unsafe id, a repeated id, a non-mapping, n=2, a blank prompt: each a
    failed item with its reason; the good item is delivered."""
    items: list[Any] = [
        {"prompt": "no id"},
        {"id": "../../etc/passwd", "prompt": "x"},
        {"id": "ok", "prompt": "fine"},
        {"id": "ok", "prompt": "again"},
        ["not", "a", "mapping"],
        {"id": "two", "prompt": "x", "n": 2},
        {"id": "blank", "prompt": " "},
    ]
    results = {r.id: r for r in await _run(_router(fake), items, tmp_path)}
    assert results["ok"].ok
    reasons = {k: r.error or "" for k, r in results.items() if not r.ok}
    assert "no id" in reasons["item:0"]
    assert "not safe as a file name" in reasons["item:1"]
    assert "duplicate id 'ok'" in reasons["item:3"]
    assert "expected a JSON object" in reasons["item:4"]
    assert "n=1" in reasons["two"]
    assert "prompt" in reasons["blank"]
    assert _prompts(fake) == ["fine"]
    assert _names(tmp_path) == [JOURNAL, "ok.png", RESULTS]


async def test_a_torn_last_journal_line_is_cut_off_and_reported(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """A crash mid-write leaves half a record: the next run reports it, cuts it off and
    runs that item again."""
    await _run(_router(fake), _items(2), tmp_path)
    journal = tmp_path / JOURNAL
    records = journal.read_bytes().splitlines(keepends=True)
    torn = records[-1][: len(records[-1]) // 2]  # the last "finished", half written
    journal.write_bytes(b"".join(records[:-1]) + torn)
    fake.calls.clear()
    progress = Progress()
    await _run(_router(fake), _items(2), tmp_path, progress=progress)
    assert progress.torn is not None
    assert progress.interrupted == 1
    assert len(fake.calls) == 1
    assert all(isinstance(json.loads(line), dict) for line in journal.read_bytes().splitlines())


async def test_a_corrupt_line_before_the_last_is_refused(
    fake: FakeProvider, tmp_path: Path
) -> None:
    """Damage in the middle of the journal is not a crash's trace: the run refuses it."""
    await _run(_router(fake), _items(2), tmp_path)
    journal = tmp_path / JOURNAL
    lines = journal.read_bytes().splitlines(keepends=True)
    journal.write_bytes(lines[0] + b"{oops\n" + b"".join(lines[1:]))
    with pytest.raises(ConfigurationError, match="line 2 is corrupt"):
        await _run(_router(fake), _items(2), tmp_path)


async def test_a_leftover_partial_file_is_removed(fake: FakeProvider, tmp_path: Path) -> None:
    """A temporary file a killed run left is deleted; it never carries a final name."""
    (tmp_path / ".i0.png.partial").write_bytes(b"\x89PNG half")
    await _run(_router(fake), _items(1), tmp_path)
    assert _names(tmp_path) == ["i0.png", JOURNAL, RESULTS]


async def test_an_async_iterable_of_items_is_taken(fake: FakeProvider, tmp_path: Path) -> None:
    """Items may come from an async generator, as BatchItem objects."""

    async def items() -> AsyncIterator[BatchItem]:
        for n in range(3):
            yield BatchItem(f"a{n}", {"prompt": f"a{n}"})

    results = await _run(_router(fake), items(), tmp_path, concurrency=2)
    assert sorted(r.id for r in results if r.ok) == ["a0", "a1", "a2"]


def test_read_requests_checks_each_line_and_resolves_image_paths(tmp_path: Path) -> None:
    """JSONL lines: images relative to the file's folder; bad lines become failed items."""
    (tmp_path / "in.png").write_bytes(make_png(8, 8))
    source = tmp_path / "requests.jsonl"
    source.write_bytes(
        b'{"id": "edit", "prompt": "warmer", "images": ["in.png"]}\n'
        b"\n"
        b"{broken\n"
        b'{"id": "x", "prompt": "y", "images": "in.png"}\n'
        b'"just a string"\n' + b'{"id": "long", "prompt": "' + b"a" * (1 << 20) + b'"}\n'
        b'{"id": "after", "prompt": "still read"}\n'
    )
    items = list(read_requests(source))
    assert items[0].arguments["images"] == [str(tmp_path / "in.png")]
    assert [i.id for i in items] == ["edit", "line:3", "x", "line:5", "line:6", "after"]
    assert [bool(i.error) for i in items] == [False, True, True, True, True, False]
    assert "longer than" in (items[4].error or "")

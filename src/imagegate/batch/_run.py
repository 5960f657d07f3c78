"""`run`: a batch through a router, journalled so it can be stopped and resumed.

For each item, in this order: a "started" record (durable), the request, the image
written under a temporary name then renamed to ``<id>.<ext>``, a "finished" record
(durable: from then on the item is done), a line of ``results.jsonl``. A kill between
"started" and "finished" costs that item's attempts once more on resume: the journal
cannot know whether the provider finished (and billed) the work it never received.

With ``until``, an item that failed only for a spent quota or an outage gets a "parked"
record instead and waits in the `ParkingLot` (imagegate.batch._park) for the router's
breakers and quotas to open again, then starts over with a new "started" record.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from imagegate._batch import as_request, pooled, unexpected
from imagegate._logging import get_logger
from imagegate._result import GeneratedImage, ImageResult
from imagegate._router import Router
from imagegate.batch._items import BatchItem, checked_items
from imagegate.batch._journal import ItemResult, Journal, atomic_write
from imagegate.batch._park import ParkingLot, wake_in_s, why_parkable
from imagegate.batch._progress import Progress, in_words
from imagegate.batch._until import Until, clock_deadline
from imagegate.errors import (
    AllRoutesFailed,
    ImageGateError,
    InvalidRequestError,
)
from imagegate.resilience.clock import wall_clock

__all__ = ["Progress", "blocking", "run", "save_image"]

_log = get_logger("imagegate.batch")

T = TypeVar("T")

_MAX_ERROR_CHARS = 500
_IMAGE_SUFFIXES = (".png", ".jpg", ".webp")

Items = Iterable[BatchItem | Mapping[str, Any]] | AsyncIterable[BatchItem | Mapping[str, Any]]


class _Batch:
    """One run's shared state: the router, the journal (written one record at a time,
    in a worker thread), what to rerun, and the parked items with how long they may
    wait (``until``, on the router's clock; None: nothing parks)."""

    __slots__ = (
        "journal",
        "lock",
        "lot",
        "progress",
        "retry_failed",
        "router",
        "spent",
        "until",
    )

    def __init__(
        self,
        router: Router,
        journal: Journal,
        progress: Progress,
        retry_failed: bool,
        until: float | None,
    ) -> None:
        self.router = router
        self.journal = journal
        self.progress = progress
        self.retry_failed = retry_failed
        self.until = until
        self.lock = anyio.Lock()
        self.lot = ParkingLot(router.clock)
        # Attempts and cost of the rounds a parked item already had in this run.
        self.spent: dict[str, tuple[int, float]] = {}

    async def work(self, item: BatchItem) -> ItemResult | None:
        """`item`, then tell the parking lot it is over (unless it was parked: None)."""
        parked = False
        try:
            result = await self.item(item)
            parked = result is None
            return result
        finally:
            if not parked:
                self.lot.done()
            self.progress.parked, self.progress.next_wake = self.lot.parked, self.lot.next_wake

    async def item(self, item: BatchItem) -> ItemResult | None:
        """Run one item (or report its earlier result): its failures become its result,
        or it is parked (None); only a cancellation or a journal that cannot be written
        raises."""
        self.progress.parked, self.progress.next_wake = self.lot.parked, self.lot.next_wake
        earlier = self.journal.earlier(item.id, self.retry_failed)
        if earlier is not None:
            self.progress.count(earlier)
            return earlier
        if item.error is not None:
            failed = ItemResult(item.id, "failed", error=item.error, run=self.journal.run)
            return await self.finish(failed)
        async with self.lock:
            await blocking(self.journal.start, item.id)
        self.progress.in_flight += 1
        try:
            result, error = await self._attempt(item)
        finally:
            self.progress.in_flight -= 1
        self.progress.cost_usd += result.cost_usd
        attempts, cost = self.spent.pop(item.id, (0, 0.0))
        result = replace(
            result, attempts=result.attempts + attempts, cost_usd=result.cost_usd + cost
        )
        if error is not None and self.until is not None:
            parked = await self._park(item, error, result)
            if parked is None:
                return None
            result = parked
        return await self.finish(result)

    async def _park(
        self, item: BatchItem, error: ImageGateError, result: ItemResult
    ) -> ItemResult | None:
        """Park ``item`` until the router could next take it (None), or its `result` —
        unchanged when waiting cannot cure ``error``, failed as parked when the wait
        would end after ``until``."""
        assert self.until is not None
        wait = why_parkable(error)
        if wait is None:
            return result
        delay = wake_in_s(self.router.health(), wait)
        if delay is None:  # its routes failed, yet none is closed: wait as a breaker would
            delay = self.router.engine.breakers.policy.cooldown_s
        clock = self.router.clock
        why = "; ".join(wait.reasons)
        if clock.now() + delay > self.until:
            self.progress.expired += 1
            message = (
                f"parked ({why}) and still waiting at the batch's `until`: its next chance "
                f"comes in {in_words(delay)}, after that; last error: {result.error}"
            )
            return replace(result, error=message[:_MAX_ERROR_CHARS])
        wake_at = wall_clock(clock)() + timedelta(seconds=delay)  # on simulated days too
        record = {"type": "parked", "id": item.id, "run": self.journal.run}
        record.update(wait_s=round(delay, 3), wake_at=wake_at.isoformat(), reason=why)
        self.spent[item.id] = (result.attempts, result.cost_usd)
        # Parked before its record is written, so the lot's timer is set while the
        # journal's worker thread runs (a virtual clock could otherwise jump past it).
        self.lot.park(item, clock.now() + delay)
        await self.record(record)
        _log.info("batch.parked", item=item.id, wait_s=round(delay, 3), reason=why)
        return None

    async def _attempt(self, item: BatchItem) -> tuple[ItemResult, ImageGateError | None]:
        run = self.journal.run
        try:
            await blocking(_remove_image, self.journal.folder, item.id)
            request = await as_request(item.arguments)
            if request.n != 1:
                raise InvalidRequestError("invalid request: a batch item asks for one image (n=1)")
            answer = await self.router.run(request)
            name = await blocking(save_image, self.journal.folder, item.id, answer.image)
        except ImageGateError as exc:
            return _failed(item.id, str(exc), exc, run), exc
        except Exception as exc:  # a bug, or the disk: the item fails, the batch goes on
            _log.error("batch.unexpected_error", item=item.id, exc_info=exc)
            return _failed(item.id, str(unexpected(f"item {item.id}", exc)), exc, run), None
        return _delivered(item.id, name, answer, run), None

    async def finish(self, result: ItemResult) -> ItemResult:
        """Journal ``result`` (durably) and append it to ``results.jsonl``."""
        async with self.lock:
            await blocking(self.journal.finish, result)
        self.progress.count(result)
        return result

    async def record(self, record: dict[str, Any]) -> None:
        """Append one record to the journal, durably."""
        async with self.lock:
            await blocking(self.journal.append, record)


async def blocking(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in the event loop's executor, waited for to the end even when
    cancelled (as ``anyio.to_thread.run_sync`` does). The loop's executor, not anyio's
    threads: a virtual-time loop (`imagegate.bench.run_virtual`) watches its jobs, and
    would otherwise let its clock jump ahead while the journal is being written."""
    loop = asyncio.get_running_loop()
    with anyio.CancelScope(shield=True):
        result = await loop.run_in_executor(None, partial(function, *args))
    return result  # noqa: RET504 (a return inside: mypy sees the scope may swallow errors)


def _remove_image(folder: Path, item_id: str) -> None:
    """Remove an image a cut-off run delivered but never recorded: the new one may
    come in another format, and a failure must not leave it beside the result."""
    for suffix in _IMAGE_SUFFIXES:
        (folder / f"{item_id}{suffix}").unlink(missing_ok=True)


def save_image(folder: Path, item_id: str, image: GeneratedImage) -> str:
    """Write an item's image as ``<id>.<ext>``, never seen half written; its name."""
    name = f"{item_id}{image.extension}"
    atomic_write(folder / name, image.data)
    return name


def _delivered(item_id: str, name: str, answer: ImageResult, run: int) -> ItemResult:
    return ItemResult(
        item_id,
        "ok",
        file=name,
        route=answer.route,
        size=answer.size,
        requested_size=answer.requested_size,
        attempts=len(answer.attempts),
        cost_usd=answer.cost_usd,
        run=run,
    )


def _failed(item_id: str, reason: str, exc: Exception, run: int) -> ItemResult:
    attempts = exc.attempts if isinstance(exc, AllRoutesFailed) else ()
    return ItemResult(
        item_id,
        "failed",
        attempts=len(attempts),
        cost_usd=sum(a.cost_usd for a in attempts if a.billing != "not_billed"),
        error=reason[:_MAX_ERROR_CHARS],
        run=run,
    )


async def run(
    router: Router,
    items: Items,
    out_dir: str | Path,
    *,
    concurrency: int = 8,
    retry_failed: bool = False,
    progress: Progress | None = None,
    until: Until | None = None,
) -> AsyncGenerator[ItemResult, None]:
    """Run a batch through ``router``, resuming from ``out_dir``'s journal; yield each
    item's result as it finishes (earlier runs' results too, marked ``resumed``).

    Items already finished are not sent again (failed ones are with ``retry_failed``);
    items an earlier run started but did not finish are. Each delivered image is
    ``out_dir/<id>.<ext>``, never half written; ``results.jsonl`` has one line per
    finished item. Items are pulled from ``items`` only as workers free up.

    Args:
        router: An open router.
        items: `BatchItem` objects or mappings of `Router.generate` arguments with an
            ``id``, from any iterable or async iterable. A bad one (no id, an unsafe or
            repeated id, invalid arguments) is a failed item with its reason.
        out_dir: The output folder (created if missing); it holds ``journal.jsonl``.
        concurrency: Items in flight at once.
        retry_failed: Run items that failed in earlier runs again.
        progress: Counts to keep up to date, for a progress display.
        until: How long items may wait for a spent quota or an outage: a time on
            ``router.clock`` (a float, as ``router.clock.now()`` reads it), a
            `timedelta` from now, or a `datetime` (without a zone: UTC). An item that
            failed only because every option's quota was used up or breaker open (or
            its attempts met an outage) is then parked and runs again when the router's
            state says one of its options opens; one that could not run before ``until``
            fails, saying it was parked and why.
            None (the default): such items fail at once.

    Raises:
        ConfigurationError: the journal is corrupt before its last line, or ``until``
            is already past.
    """
    folder = Path(out_dir)
    until_at = clock_deadline(until, router.clock)
    journal = await blocking(Journal, folder)
    progress = progress if progress is not None else Progress()
    progress.opened(journal)
    if journal.torn is not None:
        _log.warning("batch.torn_journal_line", line=journal.torn)
    batch = _Batch(router, journal, progress, retry_failed, until_at)
    try:
        await blocking(partial(journal.write_results, skip_failed=retry_failed))
        source = batch.lot.feed(checked_items(items))
        async for result in pooled(batch.work, source, concurrency=concurrency):
            if result is not None:
                yield result
    finally:
        await blocking(journal.close)  # shielded: it finishes even when cancelled

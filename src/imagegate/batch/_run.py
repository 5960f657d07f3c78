"""`run`: a batch through a router, journalled so it can be stopped and resumed.

For each item, in this order: a "started" record (durable), the request, the image
written under a temporary name then renamed to ``<id>.<ext>``, a "finished" record
(durable: from then on the item is done), a line of ``results.jsonl``. A kill between
"started" and "finished" costs that item's attempts once more on resume: the journal
cannot know whether the provider finished (and billed) the work it never received.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import anyio

from imagegate._batch import as_request, pooled, unexpected
from imagegate._logging import get_logger
from imagegate._result import GeneratedImage, ImageResult
from imagegate._router import Router
from imagegate.batch._items import BatchItem, checked_items
from imagegate.batch._journal import ItemResult, Journal, atomic_write
from imagegate.errors import AllRoutesFailed, ImageGateError, InvalidRequestError

__all__ = ["Progress", "run"]

_log = get_logger("imagegate.batch")

_MAX_ERROR_CHARS = 500
_IMAGE_SUFFIXES = (".png", ".jpg", ".webp")

Items = Iterable[BatchItem | Mapping[str, Any]] | AsyncIterable[BatchItem | Mapping[str, Any]]


class Progress:
    """Live counts of a running batch, updated by `run` (read them from anywhere).

    Attributes:
        done: Items delivered, earlier runs included.
        failed: Items failed, earlier runs included.
        resumed: Items of those finished by earlier runs.
        in_flight: Items running now.
        cost_usd: What this run's attempts cost or may have cost.
        interrupted: Items an earlier run started and never finished (run again).
        torn: The torn last journal line cut off, or None.
        run: This run's number.
    """

    __slots__ = ("cost_usd", "done", "failed", "in_flight", "interrupted", "resumed", "run", "torn")

    def __init__(self) -> None:
        self.done = 0
        self.failed = 0
        self.resumed = 0
        self.in_flight = 0
        self.cost_usd = 0.0
        self.interrupted = 0
        self.torn: str | None = None
        self.run = 0

    def count(self, result: ItemResult) -> None:
        """Count one finished item."""
        if result.ok:
            self.done += 1
        else:
            self.failed += 1
        if result.resumed:
            self.resumed += 1
        else:
            self.cost_usd += result.cost_usd

    def __repr__(self) -> str:
        return (
            f"Progress(run={self.run}, done={self.done}, failed={self.failed}, "
            f"in_flight={self.in_flight}, cost_usd={self.cost_usd:.4f})"
        )


class _Batch:
    """One run's shared state: the router, the journal (written one record at a time,
    in a worker thread) and what to rerun."""

    __slots__ = ("journal", "lock", "progress", "retry_failed", "router")

    def __init__(
        self, router: Router, journal: Journal, progress: Progress, retry_failed: bool
    ) -> None:
        self.router = router
        self.journal = journal
        self.progress = progress
        self.retry_failed = retry_failed
        self.lock = anyio.Lock()

    async def item(self, item: BatchItem) -> ItemResult:
        """Run one item (or report its earlier result): its failures become its result;
        only a cancellation or a journal that cannot be written raises."""
        earlier = self.journal.finished.get(item.id)
        if earlier is not None and (earlier.ok or not self.retry_failed):
            self.progress.count(earlier)
            return earlier
        if item.error is not None:
            failed = ItemResult(item.id, "failed", error=item.error, run=self.journal.run)
            return await self.finish(failed)
        await self.record({"type": "started", "id": item.id, "run": self.journal.run})
        self.progress.in_flight += 1
        try:
            result = await self._attempt(item)
        finally:
            self.progress.in_flight -= 1
        return await self.finish(result)

    async def _attempt(self, item: BatchItem) -> ItemResult:
        run = self.journal.run
        try:
            await anyio.to_thread.run_sync(_remove_image, self.journal.folder, item.id)
            request = await as_request(item.arguments)
            if request.n != 1:
                raise InvalidRequestError("invalid request: a batch item asks for one image (n=1)")
            answer = await self.router.run(request)
            name = await anyio.to_thread.run_sync(_save, self.journal.folder, item.id, answer.image)
        except ImageGateError as exc:
            return _failed(item.id, str(exc), exc, run)
        except Exception as exc:  # a bug, or the disk: the item fails, the batch goes on
            _log.error("batch.unexpected_error", item=item.id, exc_info=exc)
            return _failed(item.id, str(unexpected(f"item {item.id}", exc)), exc, run)
        return _delivered(item.id, name, answer, run)

    async def finish(self, result: ItemResult) -> ItemResult:
        """Journal ``result`` (durably) and append it to ``results.jsonl``."""
        async with self.lock:
            await anyio.to_thread.run_sync(self.journal.finish, result)
        self.progress.count(result)
        return result

    async def record(self, record: dict[str, Any]) -> None:
        """Append one record to the journal, durably."""
        async with self.lock:
            await anyio.to_thread.run_sync(self.journal.append, record)


def _remove_image(folder: Path, item_id: str) -> None:
    """Remove an image a cut-off run delivered but never recorded: the new one may
    come in another format, and a failure must not leave it beside the result."""
    for suffix in _IMAGE_SUFFIXES:
        (folder / f"{item_id}{suffix}").unlink(missing_ok=True)


def _save(folder: Path, item_id: str, image: GeneratedImage) -> str:
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

    Raises:
        ConfigurationError: the journal is corrupt before its last line.
    """
    folder = Path(out_dir)
    journal = await anyio.to_thread.run_sync(Journal, folder)
    progress = progress if progress is not None else Progress()
    progress.run, progress.torn = journal.run, journal.torn
    progress.interrupted = len(journal.interrupted)
    if journal.torn is not None:
        _log.warning("batch.torn_journal_line", line=journal.torn)
    batch = _Batch(router, journal, progress, retry_failed)
    try:
        await anyio.to_thread.run_sync(partial(journal.write_results, skip_failed=retry_failed))
        source = checked_items(items)
        async for result in pooled(batch.item, source, concurrency=concurrency):
            yield result
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(journal.close)

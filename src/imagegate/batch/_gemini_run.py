"""`run_batch_api`: a batch through Gemini's Batch API at half price, the router for the
rest.

One run of it, on the output folder's journal:

1. Items finished by earlier runs are reported (``resumed``), as `run` does.
2. Items still waiting in a job an earlier run created (``batch-jobs.jsonl``) wait on in
   it: they are never sent twice.
3. Every other item the model can take is "started" in the journal (durable), then sent
   in jobs of ``items_per_job``. The job's display name is recorded before it is created,
   so a run killed in between finds the job again by listing (while the list cannot be
   read, that job's items wait for a later run: the job may exist).
4. The jobs are polled on the router's clock until each ends, or until ``until``: then
   the jobs still out are cancelled (a job that finished meanwhile is still read). A job
   the API will not show (gone, a key refused, `_MAX_FAILED_POLLS` failed polls in a
   row) is closed ``UNREADABLE``.
5. Each delivered image is saved and "finished" like `run`'s, at the batch price, with
   route ``gemini-batch/<model>``. Items a job did not deliver (a per-item error, a block
   or refusal, a failed, expired, cancelled or unreadable job, or one not done by
   ``until``) and items the Batch API cannot take go to `run` on the router, through the
   same journal (its next run number), parking until ``park_until`` (counted from the
   start of this call): nothing finished is sent again.

A kill costs nothing twice: an item waiting in a job is picked up from the job on resume;
an item a job failed and `run` started is sent online again, as `run` does after a kill.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

from google.genai import types

from imagegate._batch import as_request
from imagegate._logging import get_logger
from imagegate._provider import ProviderRequest
from imagegate._router import Router
from imagegate.batch._gemini import TERMINAL_STATES, BatchAnswer, GeminiBatch, job_state
from imagegate.batch._gemini_ledger import JobEntry, Ledger
from imagegate.batch._items import BatchItem, checked_items
from imagegate.batch._journal import ItemResult, Journal
from imagegate.batch._run import Items, Progress, blocking, run, save_image
from imagegate.batch._until import Until, clock_deadline
from imagegate.errors import (
    DeadlineExceeded,
    ImageGateError,
    Overloaded,
    ProviderError,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.resilience.clock import Clock

__all__ = ["run_batch_api"]

_log = get_logger("imagegate.batch")

_NOT_CREATED = "NOT_CREATED"
_UNREADABLE = "UNREADABLE"
"""How a job is closed when polling it cannot go on: the API refuses to show it (gone,
a key it no longer takes), or `_MAX_FAILED_POLLS` polls in a row failed."""
_MAX_FAILED_POLLS = 12
_TRANSIENT = (TransportError, UpstreamError, RateLimited, Overloaded, DeadlineExceeded)


class _Phase:
    """The Batch API part of one run: its items, jobs and what goes online after."""

    __slots__ = (
        "batch",
        "clock",
        "deadline",
        "failed_polls",
        "items",
        "journal",
        "ledger",
        "online",
        "progress",
        "requests",
    )

    def __init__(
        self,
        batch: GeminiBatch,
        journal: Journal,
        ledger: Ledger,
        progress: Progress,
        clock: Clock,
        deadline: float | None,
    ) -> None:
        self.batch = batch
        self.journal = journal
        self.ledger = ledger
        self.progress = progress
        self.clock = clock
        self.deadline = deadline
        self.items: dict[str, BatchItem] = {}
        self.requests: dict[str, ProviderRequest] = {}
        self.online: list[BatchItem] = []
        self.failed_polls: dict[str, int] = {}

    def overdue(self) -> bool:
        """Whether ``until`` has passed."""
        return self.deadline is not None and self.clock.now() >= self.deadline

    async def run(self, listed: list[BatchItem], retry_failed: bool) -> AsyncIterator[ItemResult]:
        """Report earlier results, send the rest in jobs, wait for them, save answers."""
        waiting = {i for entry in self.ledger.open_entries() for i in entry.ids}
        fresh: list[str] = []
        for item in listed:
            earlier = self.journal.earlier(item.id, retry_failed)
            if earlier is not None:
                self.progress.count(earlier)
                yield earlier
                continue
            self.items[item.id] = item
            request = await self._request(item)
            if item.id in waiting:
                continue  # its job answers it (an item no longer usable stays unfinished)
            if request is None:
                self.online.append(item)
            else:
                fresh.append(item.id)
        await self._adopt_orphans(fresh)
        if fresh and not self.overdue():
            await self._submit(fresh)
        else:
            self.online += [self.items[i] for i in fresh]
        async for result in self._wait():
            yield result

    async def _request(self, item: BatchItem) -> ProviderRequest | None:
        """The item as the adapter's call, or None when the Batch API cannot take it."""
        if item.error is not None:
            return None
        try:
            request = await as_request(item.arguments)
            if request.n != 1:
                return None
            call = ProviderRequest(
                prompt=request.prompt, model=self.batch.model, size=request.size,
                aspect_ratio=request.aspect_ratio, seed=request.seed, images=request.images,
                mask=request.mask,
            )  # fmt: skip
            self.batch.inline_request(item.id, call)  # refuses what the model cannot serve
        except ImageGateError:
            return None  # `run` reports it, or another route takes it
        self.requests[item.id] = call
        return call

    async def _adopt_orphans(self, fresh: list[str]) -> None:
        """Find the jobs a killed run created without learning their names; items of
        one that was never created become fresh again."""
        for entry in self.ledger.open_entries():
            if entry.job is None and await self._found(entry) is False:
                fresh += [i for i in entry.ids if i in self.requests]
                self.online += [
                    self.items[i] for i in entry.ids if i in self.items and i not in self.requests
                ]

    async def _found(self, entry: JobEntry) -> bool | None:
        """Look for the job of an entry without a name, by its display name: True when
        the API has it (recorded), False when not (closed `_NOT_CREATED`), None while the
        list cannot be read: the job may exist, so its items wait for a later run (sent
        now, they could be billed twice)."""
        try:
            name = await self.batch.find(entry.display_name)
        except ImageGateError as exc:
            _log.warning(
                "batch_api.list_failed", job=entry.display_name, items=len(entry.ids),
                error=str(exc),
            )  # fmt: skip
            self.progress.held += len(entry.ids)
            return None
        if name is None:
            await blocking(self.ledger.closed, entry, _NOT_CREATED)
            return False
        await blocking(self.ledger.submitted, entry, name)
        return True

    async def _submit(self, fresh: list[str]) -> None:
        """Start the items (journal) and create their jobs (ledger first). A creation
        that failed once the request may have reached the API (a timeout, a dropped
        connection) is checked in the list of jobs before its items go elsewhere."""
        size = self.batch.items_per_job
        tag = secrets.token_hex(4)
        for number, start in enumerate(range(0, len(fresh), size)):
            ids = fresh[start : start + size]
            for item_id in ids:
                await blocking(self.journal.start, item_id)
            name = f"imagegate-{tag}-run{self.journal.run}-{number}"
            model = self.batch.model
            entry = await blocking(self.ledger.submitting, name, model, ids)
            entries = [self.batch.inline_request(i, self.requests[i]) for i in ids]
            try:
                job = await self.batch.create(name, entries)
            except ImageGateError as exc:
                _log.warning("batch_api.create_failed", items=len(ids), error=str(exc))
                refused = isinstance(exc, ProviderError) and exc.billing == "not_billed"
                if refused:
                    await blocking(self.ledger.closed, entry, _NOT_CREATED)
                if refused or await self._found(entry) is False:
                    self.online += [self.items[i] for i in ids]
                continue
            await blocking(self.ledger.submitted, entry, job)
            _log.info("batch_api.job_created", job=job, items=len(ids), model=model)

    async def _wait(self) -> AsyncIterator[ItemResult]:
        """Poll the open jobs with backoff until each ends or ``until`` passes."""
        waits = [entry for entry in self.ledger.open_entries() if entry.job is not None]
        self.progress.in_flight += sum(len(entry.ids) for entry in waits)
        delay = self.batch.poll_initial_s
        while waits:
            for entry in list(waits):
                state, job = await self._look(entry)
                if state in TERMINAL_STATES or state == _UNREADABLE:
                    waits.remove(entry)
                    async for result in self._close(entry, state, job):
                        yield result
            if waits and self.overdue():
                for entry in waits:
                    async for result in self._give_up(entry):
                        yield result
                return
            if waits:
                left = None if self.deadline is None else self.deadline - self.clock.now()
                await self.clock.sleep(delay if left is None else max(0.0, min(delay, left)))
                delay = min(delay * self.batch.poll_multiplier, self.batch.poll_max_s)

    async def _look(self, entry: JobEntry) -> tuple[str, types.BatchJob | None]:
        """The job's state and the job; ``"UNKNOWN"`` after a poll the next one may
        cure (an error, an answer without a known state), `_UNREADABLE` when none will
        (its items then go to the routes)."""
        assert entry.job is not None
        try:
            job = await self.batch.get(entry.job, len(entry.ids))
            state = job_state(job)
            if state == "UNKNOWN":
                raise TransportError("the job's answer names no known state", route=entry.job)
        except ImageGateError as exc:
            failed = self.failed_polls.get(entry.job, 0) + 1
            self.failed_polls[entry.job] = failed
            _log.warning("batch_api.poll_failed", job=entry.job, error=str(exc), failed=failed)
            if isinstance(exc, _TRANSIENT) and failed < _MAX_FAILED_POLLS:
                return "UNKNOWN", None
            return _UNREADABLE, None
        self.failed_polls.pop(entry.job, None)
        return state, job

    async def _give_up(self, entry: JobEntry) -> AsyncIterator[ItemResult]:
        """``until`` has passed: cancel the job; read it once more (it may have ended)."""
        assert entry.job is not None
        try:
            await self.batch.cancel(entry.job)
        except ImageGateError as exc:
            _log.warning("batch_api.cancel_failed", job=entry.job, error=str(exc))
        state, job = await self._look(entry)
        _log.info("batch_api.until_passed", job=entry.job, state=state)
        async for result in self._close(entry, state, job):
            yield result

    async def _close(
        self, entry: JobEntry, state: str, job: types.BatchJob | None
    ) -> AsyncIterator[ItemResult]:
        """Save what a job delivered; hand the rest to the online routes."""
        self.progress.in_flight -= len(entry.ids)
        answers: list[BatchAnswer | None] = [None] * len(entry.ids)
        if state == "JOB_STATE_SUCCEEDED" and job is not None:
            placeholder = ProviderRequest(prompt="", model=self.batch.model, size="1K")
            calls = [(i, self.requests.get(i, placeholder)) for i in entry.ids]
            answers = list(self.batch.answers(job, calls))
        for item_id, answer in zip(entry.ids, answers, strict=True):
            if item_id not in self.requests:
                continue  # no longer in the input: its answer is not ours to keep
            result = await self._deliver(item_id, answer)
            if result is not None:
                yield result
        await blocking(self.ledger.closed, entry, state)
        _log.info("batch_api.job_closed", job=entry.job, state=state, items=len(entry.ids))

    async def _deliver(self, item_id: str, answer: BatchAnswer | None) -> ItemResult | None:
        request = self.requests[item_id]
        price = self.batch.price_usd(request.size)
        if answer is None or answer.response is None:
            if answer is not None and answer.billed:
                self.progress.cost_usd += price  # billed in the batch, redone online
            reason = answer.error if answer is not None else None
            _log.info("batch_api.item_online", item=item_id, reason=str(reason or "job"))
            self.online.append(self.items[item_id])
            return None
        image = answer.response.images[0]
        name = await blocking(save_image, self.journal.folder, item_id, image)
        result = ItemResult(
            item_id, "ok", file=name, route=self.batch.route, size=image.size,
            requested_size=request.size, attempts=1, cost_usd=price, run=self.journal.run,
        )  # fmt: skip
        await blocking(self.journal.finish, result)
        self.progress.cost_usd += price
        self.progress.count(result)
        return result


async def run_batch_api(
    router: Router,
    items: Items,
    out_dir: str | Path,
    *,
    batch: GeminiBatch,
    until: Until | None = None,
    park_until: Until | None = None,
    concurrency: int = 8,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> AsyncGenerator[ItemResult, None]:
    """Run a batch through Gemini's Batch API, and what it does not deliver through
    ``router`` (see the module docstring); yield each item's result as it finishes.

    Args:
        router: An open router: its clock paces the polls, its routes take the rest.
        items: As `run` takes them (they are all read first: jobs are built from them).
        out_dir: The output folder, shared with `run` (one journal).
        batch: The Batch API client (`GeminiBatch.from_router`).
        until: When to stop waiting for jobs (as `run` takes its ``until``: a
            `datetime`, a `timedelta` from now, or a time on the router's clock). None
            waits until every job ends.
        park_until: `run`'s ``until`` for the items that go to the routes: how long they
            may wait for a spent quota or an outage (None: they fail at once).
        concurrency: Items in flight at once on the online routes.
        retry_failed: Run items that failed in earlier runs again.
        progress: Counts to keep up to date.

    Raises:
        ConfigurationError: the journal or ``batch-jobs.jsonl`` is corrupt.
    """
    folder = Path(out_dir)
    progress = progress if progress is not None else Progress()
    deadline = clock_deadline(until, router.clock)
    # Parking ends at ``park_until`` counted from now, not from when the jobs are over.
    park_deadline = clock_deadline(park_until, router.clock)
    listed = [item async for item in checked_items(items)]
    journal = await blocking(Journal, folder)
    progress.opened(journal)
    try:
        ledger = await blocking(Ledger.load, folder)
        phase = _Phase(batch, journal, ledger, progress, router.clock, deadline)
        async for result in phase.run(listed, retry_failed):
            yield result
    finally:
        await blocking(journal.close)  # shielded: it finishes even when cancelled
    if phase.online:
        earlier = progress.interrupted, progress.parked_earlier
        park = None if park_deadline is None else max(park_deadline, router.clock.now())
        results = run(
            router, phase.online, folder, concurrency=concurrency, retry_failed=retry_failed,
            progress=progress, until=park,
        )  # fmt: skip
        async for result in results:
            yield result
        # `run` counts the items handed over as cut off by an earlier run: they were not.
        progress.interrupted, progress.parked_earlier = earlier

"""Gemini Batch API jobs in the simulator: their state over simulated time, and their
items answered when they end.

A job's whole life is drawn when it is created, from the scenario's `BatchProfile` and
the seed (deterministic, like the online world): how long it waits (PENDING), how long
it runs (RUNNING), and how it ends. State is computed from the clock when asked, with no
task in the background. When a job ends its items are *settled*: each becomes one event
in the simulator's log (``batch=True``), answered and billed (a successful job), or not
billed (failed, expired, cancelled). Settling happens on the first look at the job after
its end, or when the event log is read.

The states are the wire's ``BATCH_STATE_*`` names (google-genai's ``t_job_state`` in
``google/genai/_transformers.py`` maps them to ``JOB_STATE_*``):

    PENDING ──queue_s──► RUNNING ──run_s──► SUCCEEDED | FAILED
       │                    │
       ├── cancel ─────────►├──► CANCELLED
       └── expire_after_s ──┴──► EXPIRED     (no results)

Per-item errors are ``google.rpc.Status`` objects in place of a response (google-genai's
``JobError``: code, message); the two the simulator sends are a deadline (code 4,
"Deadline expired before operation could complete.", as recorded in langchain4j's
GoogleAiGeminiBatchImageModel tests) and an internal error (code 13, the wording of the
online 500).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Final

from imagegate.testing.simulator._core import Ask, Call, SimContext
from imagegate.testing.simulator._google_answers import AnswerOptions, render_answer
from imagegate.testing.simulator._world import BILLED_KINDS, PlannedOutcome, _uniforms, sample

__all__ = [
    "BATCH_ITEM_KINDS",
    "BATCH_JOB_MARKS",
    "JOB_CANCELLED_ERROR",
    "JOB_FAILED_ERROR",
    "TERMINAL_STATES",
    "BatchEntry",
    "BatchJobs",
    "SimBatchJob",
    "batch_marks",
    "timestamp",
]

BATCH_ITEM_KINDS: Final = ("success", "error", "image_safety", "text_refusal", "prompt_blocked")
"""What one item of a batch can be answered with (``[simbatch:KIND]`` forces one)."""

BATCH_JOB_MARKS: Final = ("job_failed", "job_expired")
"""Markers that end the whole job an item is in (``[simbatch:job_failed]``)."""

TERMINAL_STATES: Final = frozenset(
    {"BATCH_STATE_SUCCEEDED", "BATCH_STATE_FAILED", "BATCH_STATE_CANCELLED", "BATCH_STATE_EXPIRED"}
)

_MARK: Final = re.compile(r"\[simbatch:(?P<kind>[a-z_]+)\]")
_ITEM_ERRORS: Final = (
    {"code": 4, "message": "Deadline expired before operation could complete."},
    {
        "code": 13,
        "message": "An internal error has occurred. Please retry or report in "
        "https://developers.generativeai.google/guide/troubleshooting",
    },
)
JOB_FAILED_ERROR: Final = {"code": 13, "message": "Batch processing failed: internal error."}
"""The Operation ``error`` of a failed job (the wording is not in the record)."""
JOB_CANCELLED_ERROR: Final = {"code": 1, "message": "The batch was cancelled."}
"""The Operation ``error`` of a cancelled job: code 1, ``Code.CANCELLED``, as the API
reference's ``batches.cancel`` says (the wording is not in the record)."""
_ID_ALPHABET: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def batch_marks(prompt: str) -> list[str]:
    """The ``[simbatch:...]`` markers of a prompt, in order.

    Raises:
        ValueError: a marker names no known kind.
    """
    if "[simbatch:" not in prompt:
        return []
    kinds = [match["kind"] for match in _MARK.finditer(prompt)]
    for kind in kinds:
        if kind not in BATCH_ITEM_KINDS and kind not in BATCH_JOB_MARKS:
            known = ", ".join((*BATCH_ITEM_KINDS, *BATCH_JOB_MARKS))
            raise ValueError(f"[simbatch:{kind}] is not a batch marker; one of {known}")
    return kinds


@dataclass(frozen=True, slots=True)
class BatchEntry:
    """One inline request of a job: what it asks, how to shape its answer, its metadata."""

    ask: Ask
    options: AnswerOptions
    metadata: dict[str, Any] | None


class SimBatchJob:
    """One job: its entries and its drawn timeline (simulated seconds)."""

    __slots__ = (
        "answers",
        "cancelled",
        "created",
        "deleted",
        "display_name",
        "draws",
        "ends",
        "entries",
        "expires",
        "fails",
        "id",
        "model",
        "settled",
        "starts",
    )

    def __init__(
        self,
        job_id: str,
        model: str,
        display_name: str,
        entries: list[BatchEntry],
        *,
        created: float,
        starts: float,
        ends: float,
        expires: float,
        fails: bool,
        draws: str,
    ) -> None:
        self.id = job_id
        self.draws = draws
        self.model = model
        self.display_name = display_name
        self.entries = entries
        self.created = created
        self.starts = starts
        self.ends = ends
        self.expires = expires
        self.fails = fails
        self.cancelled: float | None = None
        self.deleted = False
        self.settled = False
        self.answers: list[dict[str, Any]] = []

    @property
    def name(self) -> str:
        """``batches/{id}``."""
        return f"batches/{self.id}"

    def state(self, now: float) -> str:
        """The ``BATCH_STATE_*`` at simulated time ``now``."""
        if self.cancelled is not None:
            return "BATCH_STATE_CANCELLED"
        if self.ends > self.expires and now >= self.expires:
            return "BATCH_STATE_EXPIRED"
        if now >= self.ends:
            return "BATCH_STATE_FAILED" if self.fails else "BATCH_STATE_SUCCEEDED"
        return "BATCH_STATE_RUNNING" if now >= self.starts else "BATCH_STATE_PENDING"

    def ended_at(self) -> float | None:
        """When it reached a terminal state, or None while it has not."""
        if self.cancelled is not None:
            return self.cancelled
        if self.ends > self.expires:
            return self.expires
        return self.ends

    def __repr__(self) -> str:
        return f"SimBatchJob({self.name}, {len(self.entries)} items)"


class BatchJobs:
    """Every job the simulator holds, by id, in creation order."""

    __slots__ = ("_count", "_ctx", "jobs")

    def __init__(self, ctx: SimContext) -> None:
        self._ctx = ctx
        self._count = 0
        self.jobs: dict[str, SimBatchJob] = {}

    def create(self, model: str, display_name: str, entries: list[BatchEntry]) -> SimBatchJob:
        """A new job, its timeline drawn from the scenario's `BatchProfile`."""
        ctx = self._ctx
        profile = ctx.world.scenario.batch
        number = self._count
        self._count += 1
        u = _uniforms(ctx.world.seed, "batch-job", number, model, len(entries))
        draws = _job_id(f"{ctx.world.seed}|{number}")  # what its items' outcomes draw on
        # The display name in the id: another simulator with the same seed (a resumed
        # process) does not give a new job the name of one it never made.
        job_id = _job_id(f"{ctx.world.seed}|{number}|{display_name}")
        marks = {mark for entry in entries for mark in batch_marks(entry.ask.prompt)}
        now = ctx.clock.now()
        starts = now + sample(profile.queue_s, u[0])
        ends = starts + sample(profile.run_s, u[1])
        if "job_expired" in marks or u[2] < profile.slow_jobs:
            ends = math.inf
        fails = "job_failed" in marks or u[3] < profile.failed_jobs
        job = SimBatchJob(
            job_id, model, display_name, entries, created=now, starts=starts, ends=ends,
            expires=now + profile.expire_after_s, fails=fails, draws=draws,
        )  # fmt: skip
        self.jobs[job_id] = job
        return job

    def get(self, job_id: str) -> SimBatchJob | None:
        """The job (settled if it has ended), or None when unknown or deleted."""
        job = self.jobs.get(job_id)
        if job is None or job.deleted:
            return None
        self.settle(job)
        return job

    def cancel(self, job: SimBatchJob) -> None:
        """Cancel a job that has not ended (one that has is left as it is)."""
        now = self._ctx.clock.now()
        if job.state(now) not in TERMINAL_STATES:
            job.cancelled = now
        self.settle(job)

    def settle_all(self) -> None:
        """Settle every job that has ended by now."""
        for job in self.jobs.values():
            self.settle(job)

    def settle(self, job: SimBatchJob) -> None:
        """Answer and bill the items of a job that has ended (once)."""
        now = self._ctx.clock.now()
        state = job.state(now)
        if job.settled or state not in TERMINAL_STATES:
            return
        job.settled = True
        ended = job.ended_at()
        assert ended is not None
        if state != "BATCH_STATE_SUCCEEDED":
            outcome = "batch_" + state.removeprefix("BATCH_STATE_").lower()
            for entry in job.entries:
                record = self._record(entry.ask, job.starts)
                record.planned = outcome
                record.finish(outcome, status=None, now=ended, billed=False)
            return
        job.answers = [self._answer(job, index, entry) for index, entry in enumerate(job.entries)]

    def _record(self, ask: Ask, started: float) -> Any:
        return self._ctx.log.start(
            provider=ask.provider, model=ask.model, size=ask.size, aspect_ratio=ask.aspect_ratio,
            n=ask.n, prompt=ask.prompt, now=started, images=ask.images, batch=True,
        )  # fmt: skip

    def _answer(self, job: SimBatchJob, index: int, entry: BatchEntry) -> dict[str, Any]:
        """One inlined response (or per-item error), in the request's order."""
        ctx, ask = self._ctx, entry.ask
        u = _uniforms(ctx.world.seed, "batch-item", job.draws, index, ask.prompt)
        forced = [m for m in batch_marks(ask.prompt) if m in BATCH_ITEM_KINDS]
        kind = forced[0] if forced else "success"
        if not forced and u[0] < ctx.world.scenario.batch.item_errors:
            kind = "error"
        record = self._record(ask, job.starts)
        record.planned = kind
        record.latency_s = job.ends - job.starts
        answer: dict[str, Any] = {}
        if kind == "error":
            answer["error"] = dict(_ITEM_ERRORS[int(u[1] * len(_ITEM_ERRORS))])
            record.finish("error", status=None, now=job.ends, billed=False)
        else:
            answer["response"] = self._response(job, entry, kind, record, int(u[2] * 4))
        if entry.metadata is not None:
            answer["metadata"] = entry.metadata
        return answer

    def _response(
        self, job: SimBatchJob, entry: BatchEntry, kind: str, record: Any, seed: int
    ) -> dict[str, Any]:
        """The ``GenerateContentResponse`` the online endpoint would send for ``kind``."""
        ctx, ask = self._ctx, entry.ask
        profile = ctx.world.profile(ask.provider, ask.model, ask.size)
        assert profile is not None  # checked when the job was created
        planned = PlannedOutcome(
            kind=kind, latency_s=job.ends - job.starts, billed=kind in BILLED_KINDS,
            delivered_size=ask.size if kind == "success" else None, image_seed=seed,
        )  # fmt: skip
        call = Call(ask, record, planned, profile, None, job.ends)
        reply = render_answer(ctx, call, entry.options)
        record.width, record.height = reply.width, reply.height
        record.bytes_sent = len(reply.body)
        outcome = reply.outcome or kind
        record.finish(outcome, status=200, now=job.ends, billed=planned.billed)
        body: dict[str, Any] = json.loads(reply.body)
        return body


def _job_id(seed: str) -> str:
    """36 characters of ``[0-9a-z]`` from ``seed`` (as the API's job ids look)."""
    digest = hashlib.blake2b(seed.encode(), digest_size=32).digest()
    return "".join(_ID_ALPHABET[b % 36] for b in digest[:36])


def timestamp(ctx: SimContext, seconds: float) -> str:
    """RFC 3339 (Z-normalised) of simulated second ``seconds``."""
    when = ctx.world.scenario.start + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

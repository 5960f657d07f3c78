"""The Gemini Batch API (AI Studio) over HTTP, as google-genai's ``client.aio.batches``
speaks it (``google/genai/batches.py``, 3.6: the ``*_to_mldev`` / ``*_from_mldev``
converters).

Paths, under the simulator's ``/gemini`` prefix, for ``v1``, ``v1beta`` and ``v1alpha``:

- ``POST /{version}/models/{model}:batchGenerateContent``: create. The body is
  ``{"batch": {"displayName", "inputConfig": {"requests": {"requests": [{"request":
  GenerateContentRequest, "metadata": {...}}]}}}}`` (``_CreateBatchJobParameters_to_mldev``,
  ``_BatchJobSource_to_mldev``, ``_InlinedRequest_to_mldev``). Only inline requests:
  a ``fileName`` source (the File API) is refused with a 400.
- ``GET /{version}/batches/{id}``: the job; ``GET /{version}/batches``: the list
  (``pageSize``, ``pageToken``; ``{"operations": [...], "nextPageToken"}``, as
  ``_ListBatchJobsResponse_from_mldev`` reads it);
- ``POST /{version}/batches/{id}:cancel`` and ``DELETE /{version}/batches/{id}``: ``{}``.

A job is a long-running Operation whose ``metadata`` is the ``GenerateContentBatch``
(``_BatchJob_from_mldev`` reads ``name`` and ``metadata.{displayName, state, createTime,
updateTime, endTime, model, output}``). The shapes follow answers recorded from the real
service: ``batchStats`` counts as int64 strings and zero counts left out (a pending job
quoted in tests of public clients: langchain4j's GoogleAiGeminiBatchChatModel,
``{"requestCount": "3", "pendingRequestCount": "3"}``); a succeeded job carries its
answers both at ``metadata.output.inlinedResponses.inlinedResponses`` (where google-genai
reads them) and as the Operation's ``response`` (``@type ...GenerateContentBatchOutput``,
where langchain4j reads them), with ``done: true``. The API reference
(https://ai.google.dev/api/batch-api) lists the fields; inline requests must stay under
20 MB in total (https://ai.google.dev/gemini-api/docs/batch-api).

Cancel and delete follow the API reference (https://ai.google.dev/api/batch-api,
``batches.cancel`` and ``batches.delete``): a cancelled job is an Operation with
``done: true`` and an ``error`` whose code is 1 (``Code.CANCELLED``); deleting a job
"does not cancel the operation": it is gone from get and list (404) but runs on to its
end, and its items are billed. The real cancel is best effort and asynchronous (a job
may still end otherwise); the simulator's takes effect at once.

Not modelled: the File API source and output, Batch API quotas (concurrent jobs, enqueued
tokens), priorities, webhooks. Cancelling or deleting a job that has ended changes
nothing (the real service's answer to that is not in the record).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from imagegate.testing.simulator._batch_jobs import (
    JOB_CANCELLED_ERROR,
    JOB_FAILED_ERROR,
    TERMINAL_STATES,
    BatchEntry,
    BatchJobs,
    SimBatchJob,
    batch_marks,
    timestamp,
)
from imagegate.testing.simulator._core import Ask, Reply, SimContext, json_reply, to_response
from imagegate.testing.simulator._google import _answer_options, _camel, _parse, _with_inputs
from imagegate.testing.simulator._google_errors import GOOGLE_JSON, check_auth, google_error

__all__ = ["add_google_batch_routes"]

_VERSION: Final = "{version:v1|v1beta|v1alpha}"
_ID: Final = "{job_id:[^:/]+}"
_META_TYPE: Final = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
_OUTPUT_TYPE: Final = (
    "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
)
_INLINE_CAP: Final = 20 * 1024 * 1024
"""Inline batch requests must stay under 20 MB in total."""
_NOT_FOUND: Final = "Requested entity was not found."
_PAGE_SIZE: Final = 50

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_google_batch_routes(app: web.Application, ctx: SimContext) -> BatchJobs:
    """Serve the Batch API under ``/gemini`` (before the ``generateContent`` routes)."""
    jobs = BatchJobs(ctx)

    def guarded(handler: Callable[[web.Request], Reply]) -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            failure = check_auth(ctx, request, "gemini", None)
            if failure is not None:
                return to_response(failure)
            return to_response(handler(request))

        return serve

    async def create(request: web.Request) -> web.StreamResponse:
        failure = check_auth(ctx, request, "gemini", None)
        if failure is not None:
            return to_response(failure)
        body = await request.read()
        return to_response(_create(ctx, jobs, request.match_info["model"], body))

    def get(request: web.Request) -> Reply:
        job = jobs.get(request.match_info["job_id"])
        return _missing() if job is None else _ok(_operation(ctx, job))

    def cancel(request: web.Request) -> Reply:
        job = jobs.get(request.match_info["job_id"])
        if job is None:
            return _missing()
        jobs.cancel(job)
        return _ok({})

    def delete(request: web.Request) -> Reply:
        job = jobs.get(request.match_info["job_id"])
        if job is None:
            return _missing()
        job.deleted = True  # not cancelled: it runs on, and its items are billed
        return _ok({})

    def listing(request: web.Request) -> Reply:
        return _ok(_list(ctx, jobs, request.query.get("pageSize"), request.query.get("pageToken")))

    prefix = f"/gemini/{_VERSION}"
    app.router.add_route("POST", f"{prefix}/models/{{model:[^:/]+}}:batchGenerateContent", create)
    app.router.add_route("GET", f"{prefix}/batches", guarded(listing))
    app.router.add_route("GET", f"{prefix}/batches/{_ID}", guarded(get))
    app.router.add_route("DELETE", f"{prefix}/batches/{_ID}", guarded(delete))
    app.router.add_route("POST", f"{prefix}/batches/{_ID}:cancel", guarded(cancel))
    return jobs


def _ok(payload: dict[str, Any]) -> Reply:
    return json_reply(200, payload, content_type=GOOGLE_JSON)


def _missing() -> Reply:
    return google_error(404, "NOT_FOUND", _NOT_FOUND)


def _invalid(message: str) -> Reply:
    return google_error(400, "INVALID_ARGUMENT", message)


def _create(ctx: SimContext, jobs: BatchJobs, model: str, raw: bytes) -> Reply:
    """Check the body, then hold the job; the answer is the new Operation."""
    if len(raw) > _INLINE_CAP:
        return _invalid(f"Request payload size exceeds the limit: {_INLINE_CAP} bytes.")
    try:
        parsed = json.loads(raw)
    except ValueError:
        return _invalid("Invalid JSON payload received. Unexpected token.")
    batch = _camel(parsed).get("batch") if isinstance(parsed, dict) else None
    if not isinstance(batch, dict):
        return _invalid("* BatchGenerateContentRequest.batch: batch is required")
    source = batch.get("inputConfig") or {}
    if "fileName" in source:
        return _invalid("the simulator takes inline requests only (no File API)")
    listed = (source.get("requests") or {}).get("requests")
    if not isinstance(listed, list) or not listed:
        return _invalid("* BatchGenerateContentRequest.batch.input_config: requests are required")
    entries: list[BatchEntry] = []
    for index, item in enumerate(listed):
        entry = _entry(ctx, model, index, item)
        if isinstance(entry, Reply):
            return entry
        entries.append(entry)
    name = batch.get("displayName")
    display = name if isinstance(name, str) else ""
    return _ok(_operation(ctx, jobs.create(model, display, entries)))


def _entry(ctx: SimContext, model: str, index: int, item: object) -> BatchEntry | Reply:
    """One inline request as an entry, or the 400/404 that refuses the whole batch."""
    where = f"batch.input_config.requests.requests[{index}]"
    request = item.get("request") if isinstance(item, dict) else None
    if not isinstance(request, dict):
        return _invalid(f"* BatchGenerateContentRequest.{where}.request: request is required")
    ask, problem = _parse(request, "gemini", model)
    if ask is None:
        return _invalid(problem.replace("GenerateContentRequest.", f"{where}.request."))
    ask, refusal = _with_inputs(ask, request.get("contents"))
    if refusal is not None:
        return refusal
    try:
        batch_marks(ask.prompt)
    except ValueError as exc:
        return _invalid(str(exc))
    if ctx.world.profile("gemini", model, ask.size) is None:
        return google_error(
            404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, or is not "
            "supported for batchGenerateContent.",
        )  # fmt: skip
    metadata = item.get("metadata") if isinstance(item, dict) else None
    one = Ask(ask.provider, ask.model, ask.size, ask.aspect_ratio, 1, ask.prompt, ask.images)
    options = _answer_options(request)
    return BatchEntry(one, options, metadata if isinstance(metadata, dict) else None)


def _operation(ctx: SimContext, job: SimBatchJob, *, output: bool = True) -> dict[str, Any]:
    """The job as the long-running Operation the API returns."""
    now = ctx.clock.now()
    state = job.state(now)
    ended = job.ended_at() if state in TERMINAL_STATES else None
    metadata: dict[str, Any] = {"@type": _META_TYPE, "model": f"models/{job.model}"}
    if job.display_name:
        metadata["displayName"] = job.display_name
    metadata["createTime"] = timestamp(ctx, job.created)
    metadata["updateTime"] = timestamp(ctx, ended if ended is not None else job.created)
    if ended is not None:
        metadata["endTime"] = timestamp(ctx, ended)
    metadata["batchStats"] = _stats(job, state)
    metadata["state"] = state
    metadata["name"] = job.name
    operation: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if state not in TERMINAL_STATES:
        return operation
    operation["done"] = True
    if state == "BATCH_STATE_FAILED":
        operation["error"] = dict(JOB_FAILED_ERROR)
    if state == "BATCH_STATE_CANCELLED":
        operation["error"] = dict(JOB_CANCELLED_ERROR)
    if state == "BATCH_STATE_SUCCEEDED" and output:
        responses = {"inlinedResponses": {"inlinedResponses": job.answers}}
        metadata["output"] = responses
        operation["response"] = {"@type": _OUTPUT_TYPE, **responses}
    return operation


def _stats(job: SimBatchJob, state: str) -> dict[str, str]:
    """``batchStats``: int64 counts as strings, zeros left out (proto3 JSON)."""
    total = len(job.entries)
    counts = {"requestCount": total}
    if state == "BATCH_STATE_SUCCEEDED":
        failed = sum("error" in answer for answer in job.answers)
        counts["successfulRequestCount"] = total - failed
        counts["failedRequestCount"] = failed
    elif state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
        counts["pendingRequestCount"] = total
    return {key: str(value) for key, value in counts.items() if value}


def _list(ctx: SimContext, jobs: BatchJobs, size: str | None, token: str | None) -> dict[str, Any]:
    """One page of jobs, newest first; results are left out (get the job for them)."""
    live = [job for job in reversed(jobs.jobs.values()) if not job.deleted]
    for job in live:
        jobs.settle(job)
    start = int(token) if token and token.isdigit() else 0
    count = int(size) if size and size.isdigit() and int(size) > 0 else _PAGE_SIZE
    page = live[start : start + count]
    answer: dict[str, Any] = {"operations": [_operation(ctx, job, output=False) for job in page]}
    if start + count < len(live):
        answer["nextPageToken"] = str(start + count)
    return answer

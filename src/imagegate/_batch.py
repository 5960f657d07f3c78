"""Batches: many requests through one router, one `BatchResult` for each, as they end.

`run_many` is what `Router.generate_many` returns: ``concurrency`` workers take inputs in
turn, and whatever goes wrong with one input (validation, every route failing, a bug in
an adapter) becomes that input's error, so no answer is lost or repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import anyio

from imagegate._inputs import read_inputs
from imagegate._logging import get_logger
from imagegate._request import ImageRequest
from imagegate._result import ImageResult
from imagegate.errors import ConfigurationError, ImageGateError, InvalidRequestError

__all__ = ["BatchResult", "run_many"]

_log = get_logger("imagegate.router")

Run = Callable[[ImageRequest], Awaitable[ImageResult]]
"""Runs one validated request (`Router.run`)."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One answer of `Router.generate_many`: the result or the error, never both.

    Attributes:
        index: Position of the request in the input.
        request: The validated request (None when it failed validation).
        result: The image result on success.
        error: The error otherwise.
    """

    index: int
    request: ImageRequest | None
    result: ImageResult | None
    error: ImageGateError | None

    @property
    def ok(self) -> bool:
        """True when an image was delivered."""
        return self.result is not None


async def run_many(
    run: Run,
    requests: Iterable[ImageRequest | str | Mapping[str, Any]],
    *,
    concurrency: int,
) -> AsyncIterator[BatchResult]:
    """Run every request with ``run``, at most ``concurrency`` at once, yielding each
    answer as it completes; closing the iterator cancels what is still running."""
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    queue: asyncio.Queue[BatchResult] = asyncio.Queue()
    items = list(enumerate(requests))
    pending = iter(items)
    workers: set[asyncio.Task[None]] = set()

    async def work() -> None:
        for index, item in pending:
            queue.put_nowait(await _one(run, index, item))

    for _ in range(min(concurrency, len(items))):
        workers.add(asyncio.get_running_loop().create_task(work()))
    try:
        for _ in items:
            yield await queue.get()
    finally:
        for task in workers:
            task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.gather(*workers, return_exceptions=True)


async def _one(run: Run, index: int, item: object) -> BatchResult:
    """The one answer for input ``index``: whatever goes wrong becomes its error, so
    a worker never dies and leaves `run_many` waiting for an answer."""
    request: ImageRequest | None = None
    try:
        request = await _as_request(item)
        return BatchResult(index, request, await run(request), None)
    except ImageGateError as exc:
        return BatchResult(index, request, None, exc)
    except Exception as exc:  # a bug (ours or a plugin's) must not lose the answer
        _log.error("batch.unexpected_error", index=index, exc_info=exc)
        error = ImageGateError(f"request {index} failed: {type(exc).__name__}: {exc}")
        error.__cause__ = exc
        return BatchResult(index, request, None, error)


async def _as_request(item: object) -> ImageRequest:
    """A `generate_many` input as a request: an `ImageRequest`, a prompt, or a mapping
    of `generate` arguments (``images`` and ``mask`` among them, files read in a worker
    thread); anything else is an `InvalidRequestError`."""
    if isinstance(item, ImageRequest):
        return item
    if isinstance(item, str):
        return ImageRequest.build(item)
    if not isinstance(item, Mapping):
        raise InvalidRequestError(
            "invalid request: expected an ImageRequest, a prompt or a mapping of "
            f"generate() arguments, got {type(item).__name__}"
        )
    fields = dict(item)
    strange = next((key for key in fields if not isinstance(key, str)), None)
    if strange is not None:
        raise InvalidRequestError(
            f"invalid request: argument names must be strings, got {strange!r}"
        )
    if fields.get("images") or fields.get("mask") is not None:
        inputs = await read_inputs(fields.get("images"), fields.get("mask"))
        fields.update(images=inputs.images, mask=inputs.mask)
    return ImageRequest.build(fields.pop("prompt", None), **fields)

"""Batches: many requests through one router, one `BatchResult` for each, as they end.

`run_many` is what `Router.generate_many` returns: ``concurrency`` workers take inputs in
turn, and whatever goes wrong with one input (validation, every route failing, a bug in
an adapter) becomes that input's error, so no answer is lost or repeated.

`pooled` is the pool underneath (`imagegate.batch` runs its items on it too): inputs are
pulled from any iterable or async iterable only as a worker frees up, and a worker with
an answer waits for the consumer to take it, so at most about ``2 × concurrency`` inputs
are held at once however long the input is.
"""

from __future__ import annotations

import asyncio
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import anyio

from imagegate._inputs import read_inputs
from imagegate._logging import get_logger
from imagegate._request import ImageRequest
from imagegate._result import ImageResult
from imagegate.errors import ConfigurationError, ImageGateError, InvalidRequestError

__all__ = ["BatchResult", "Requests", "pooled", "run_many"]

_log = get_logger("imagegate.router")

Run = Callable[[ImageRequest], Awaitable[ImageResult]]
"""Runs one validated request (`Router.run`)."""

RequestInput = ImageRequest | str | Mapping[str, Any]
Requests = Iterable[RequestInput] | AsyncIterable[RequestInput]
"""What `Router.generate_many` takes: any iterable or async iterable, never materialised."""

T = TypeVar("T")
R = TypeVar("R")


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


def run_many(run: Run, requests: Requests, *, concurrency: int) -> AsyncIterator[BatchResult]:
    """Run every request with ``run``, at most ``concurrency`` at once, yielding each
    answer as it completes; closing the iterator cancels what is still running."""

    async def one(numbered: tuple[int, object]) -> BatchResult:
        return await _one(run, *numbered)

    return pooled(one, _numbered(requests), concurrency=concurrency)


async def _numbered(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[tuple[int, T]]:
    index = 0
    async for item in as_async(items):
        yield index, item
        index += 1


async def as_async(items: Iterable[T] | AsyncIterable[T]) -> AsyncIterator[T]:
    """``items`` as an async iterator, pulled one at a time (a plain iterable too)."""
    if isinstance(items, AsyncIterable):
        async for item in items:
            yield item
    else:
        for item in items:
            yield item


class _End:
    """What a worker sends when the input is exhausted, or with the error that ended it."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None) -> None:
        self.error = error


class _Pool(Generic[T, R]):
    """The shared state of one `pooled` run: the input, the lock that serialises pulls
    from it (an async generator cannot be advanced twice at once), and the answers."""

    __slots__ = ("answers", "lock", "source", "work")

    def __init__(self, work: Callable[[T], Awaitable[R]], source: AsyncIterator[T], size: int):
        self.work = work
        self.source = source
        self.lock = asyncio.Lock()
        self.answers: asyncio.Queue[R | _End] = asyncio.Queue(maxsize=size)

    async def worker(self) -> None:
        while True:
            async with self.lock:
                try:
                    item = await anext(self.source)
                except StopAsyncIteration:
                    await self.answers.put(_End(None))
                    return
                except Exception as exc:  # the caller's iterator failed: re-raised to it
                    await self.answers.put(_End(exc))
                    return
            try:
                answer = await self.work(item)
            except Exception as exc:  # work that broke its promise not to raise
                await self.answers.put(_End(exc))
                return
            await self.answers.put(answer)


async def pooled(
    work: Callable[[T], Awaitable[R]],
    items: Iterable[T] | AsyncIterable[T],
    *,
    concurrency: int,
) -> AsyncIterator[R]:
    """``work(item)`` for every item, ``concurrency`` at once, yielding each answer as it
    completes. Items are pulled only as workers free up and a finished worker waits for
    its answer to be taken, so memory stays bounded for any length of input. An
    exception from the input's own iterator, or from ``work`` (which should turn every
    failure into an answer), is raised here at once and cancels the rest, as closing the
    iterator does."""
    if concurrency < 1:
        raise ConfigurationError("concurrency must be at least 1")
    pool = _Pool(work, as_async(items), concurrency)
    loop = asyncio.get_running_loop()
    workers = {loop.create_task(pool.worker()) for _ in range(concurrency)}
    try:
        ended = 0
        while ended < concurrency:
            answer = await pool.answers.get()
            if not isinstance(answer, _End):
                yield answer
            elif answer.error is not None:
                raise answer.error
            else:
                ended += 1
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
        request = await as_request(item)
        return BatchResult(index, request, await run(request), None)
    except ImageGateError as exc:
        return BatchResult(index, request, None, exc)
    except Exception as exc:  # a bug (ours or a plugin's) must not lose the answer
        _log.error("batch.unexpected_error", index=index, exc_info=exc)
        return BatchResult(index, request, None, unexpected(f"request {index}", exc))


def unexpected(what: str, exc: Exception) -> ImageGateError:
    """An unexpected exception (a bug, ours or a plugin's) as an `ImageGateError`."""
    error = ImageGateError(f"{what} failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error


async def as_request(item: object) -> ImageRequest:
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

"""The adapter's call for one attempt: under its timeout, its answer checked, and its
cancellation bounded.

A call runs in a task of its own: one that outlives its timeout (or whose request is
cancelled) is cancelled and given `ABANDON_GRACE_S` of clock time to end, and one that
ignores the cancellation is abandoned (held by the engine, never awaited) so the request
still ends on time. An adapter that promises to end when cancelled (``ends_when_cancelled
= True``, as every built-in adapter does) is called in the request's own task instead,
under a deadline on the router's clock (`imagegate._expiry`: one loop timer for every
attempt's): no task, no wake-up future and one turn of the loop less per attempt.
Whatever the adapter raises or returns instead of a `ProviderResponse` becomes the
attempt's error.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Coroutine, Mapping
from typing import Any, get_args

import anyio

from imagegate._expiry import Expiry
from imagegate._flight import Flight
from imagegate._plan import Option
from imagegate._provider import ProviderRequest, ProviderResponse
from imagegate._redact import render_traceback
from imagegate._request import Size
from imagegate._result import GeneratedImage
from imagegate._sanitize import detach
from imagegate.errors import (
    Billing,
    DeadlineExceeded,
    ImageGateError,
    ProviderError,
    UpstreamError,
)
from imagegate.resilience.clock import Clock, wait_task

__all__ = ["ABANDON_GRACE_S", "call_adapter"]

# Clock seconds an adapter's call may take to end once cancelled; then it is abandoned.
ABANDON_GRACE_S = 1.0
_BILLINGS: tuple[str, ...] = get_args(Billing)

Answer = tuple[ProviderResponse | None, ImageGateError | None]

if sys.version_info >= (3, 12):

    def _start(call: Coroutine[Any, Any, Answer]) -> asyncio.Task[Answer]:
        """The call's task, started at once: its first step runs now, as the task (an
        answer at hand ends it there, without a turn of the loop). A loop with a task
        factory of its own makes the task as it always does."""
        loop = asyncio.get_running_loop()
        if loop.get_task_factory() is not None:
            return loop.create_task(call)
        return asyncio.Task(call, loop=loop, eager_start=True)

else:

    def _start(call: Coroutine[Any, Any, Answer]) -> asyncio.Task[Answer]:
        """The call's task, first run at the loop's next turn."""
        return asyncio.get_running_loop().create_task(call)


def call_adapter(flight: Flight, timeout_s: float | None) -> Coroutine[Any, Any, Answer]:
    """The adapter's answer to ``flight``'s call under ``timeout_s``, or its error (to
    await: the call is made in the coroutine returned, with no frame of this one around
    it, which every resumption of the request would pass through)."""
    run, option = flight.run, flight.option
    request, route, size = run.request, option.route, option.size
    # In field order, not by keyword: every attempt builds one (a keyword costs ~0.03 µs).
    call = ProviderRequest(
        request.prompt,
        route.model,
        size,
        request.aspect_ratio,
        request.n,
        request.seed,
        timeout_s,
        run.request_id,
        route.options,
        request.images,  # the request's own tuple: no copy per attempt
        request.mask,
    )
    log = run.log
    if log.is_enabled_for(logging.DEBUG):  # every attempt: no fields built for nothing
        log.debug("attempt.start", route=route.name, size=size, timeout_s=timeout_s)
    if getattr(run.engine.providers[option.index], "ends_when_cancelled", False) is True:
        return _call_here(flight, call, timeout_s)
    return _call_in_task(flight, call, timeout_s)


async def _call_in_task(flight: Flight, call: ProviderRequest, timeout_s: float | None) -> Answer:
    """The call in a task of its own, so that a call that ignores its cancellation can be
    left behind at its deadline (`_stop_call`)."""
    option = flight.option
    answered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    task = _start(_invoke(flight, call, answered))
    try:
        done = await _until_answered(flight.run.engine.clock, task, answered, timeout_s)
    except anyio.get_cancelled_exc_class():
        with anyio.CancelScope(shield=True):
            flight.abandoned = await _stop_call(flight, task)
        raise
    response: ProviderResponse | None = None
    error: ImageGateError | None = None
    if not done:
        flight.abandoned = await _stop_call(flight, task)
        error = _timed_out(option, timeout_s)
    elif task.cancelled():  # the adapter cancelled its own call
        error = _cancelled_by_adapter(option)
    else:
        response, error = task.result()
    return response, error


async def _call_here(flight: Flight, call: ProviderRequest, timeout_s: float | None) -> Answer:
    """The call of an adapter that ends when cancelled, in the request's own task, under
    ``timeout_s`` of the router's clock: a clock with a ``scale`` keeps the deadline with
    the loop's (`Engine.deadlines`: one loop timer for every attempt), others (the fake
    clock) through a timer task that sleeps on them.
    The adapter is awaited here, with no frame between: every resumption of its call
    passes through each frame of the request's await chain."""
    option, engine = flight.option, flight.run.engine
    expiry = timer = None
    if timeout_s is not None:
        clock, loop = engine.clock, asyncio.get_running_loop()
        scale = getattr(clock, "scale", None)
        if isinstance(scale, float):
            expiry = engine.deadlines(loop).enter(loop.time() + max(0.0, timeout_s) * scale)
        else:
            expiry = Expiry.of_current_task()
            timer = loop.create_task(_expire(clock, timeout_s, expiry))
    try:
        answer: object = await engine.providers[option.index].generate(call)
    except Exception as exc:  # a deadline that passed meanwhile is taken back as it leaves
        return None, _adapter_error(flight, exc)
    except asyncio.CancelledError as exc:
        if expiry is not None and expiry.leave_cancelled():  # the deadline's own
            # The cancellation's traceback runs through the adapter's frames (and through
            # them to this request): cut loose, so the request is freed as it ends.
            detach(exc)
            return None, _timed_out(option, timeout_s)
        task = asyncio.current_task()
        if task is not None and task.cancelling() == 0:  # no one cancelled it: the adapter
            return None, _cancelled_by_adapter(option)
        raise
    else:
        return _checked(flight, answer)
    finally:
        if expiry is not None:
            expiry.leave()
        if timer is not None:
            timer.cancel()


def _timed_out(option: Option, timeout_s: float | None) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"attempt timed out after {timeout_s:g} s", route=option.route.name, size=option.size
    )


def _cancelled_by_adapter(option: Option) -> UpstreamError:
    return UpstreamError(
        "adapter call was cancelled", route=option.route.name, size=option.size, retryable=False
    )


async def _expire(clock: Clock, seconds: float, expiry: Expiry) -> None:
    """Expire ``expiry`` once ``seconds`` of ``clock`` time have passed."""
    await clock.sleep(seconds)
    expiry.expire()


async def _until_answered(
    clock: Clock, task: asyncio.Task[Answer], answered: asyncio.Future[None], seconds: float | None
) -> bool:
    """Wait until ``task`` answers (it sets ``answered`` as it ends) or ``seconds`` of
    ``clock`` time pass (None: no limit); whether it is done. The task is left running.

    `wait_task` with one future less: the call's own task wakes the request as it ends,
    instead of its end waking a waiter that wakes the request a turn of the loop later.
    A clock without a ``scale`` (the fake clock) waits through `wait_task`'s timer task.
    """
    if task.done():
        return True
    scale = getattr(clock, "scale", None)
    if not isinstance(scale, float):
        return await wait_task(clock, task, seconds)
    timer = None
    if seconds is not None:
        timer = asyncio.get_running_loop().call_later(max(0.0, seconds) * scale, _wake, answered)
    try:
        await answered
    finally:
        if timer is not None:
            timer.cancel()
    return task.done()


def _wake(answered: asyncio.Future[None]) -> None:
    if not answered.done():
        answered.set_result(None)


async def _invoke(flight: Flight, call: ProviderRequest, answered: asyncio.Future[None]) -> Answer:
    """The adapter's answer, or what it raised or returned instead, as an error; sets
    ``answered`` as it ends, however it ends."""
    option = flight.option
    try:
        answer: object = await flight.run.engine.providers[option.index].generate(call)
    except Exception as exc:
        return None, _adapter_error(flight, exc)
    finally:
        _wake(answered)
    return _checked(flight, answer)


def _adapter_error(flight: Flight, exc: Exception) -> ImageGateError:
    """What the adapter raised, as the attempt's error: its own error bound to the
    option, or a buggy adapter's exception as a non-retryable `UpstreamError` (a buggy
    adapter must not take the request down)."""
    option = flight.option
    route, size = option.route, option.size
    if isinstance(exc, ProviderError):
        return detach(exc).bind(route=route.name, size=size)
    if isinstance(exc, ImageGateError):
        return detach(exc)
    # As text, never exc_info: renderers that show locals would reach the key.
    flight.run.log.error(
        "attempt.adapter_bug", route=route.name, size=size, exception=render_traceback(exc)
    )
    return UpstreamError(
        f"adapter raised {type(exc).__name__}: {exc}",
        route=route.name,
        size=size,
        retryable=False,
    )


def _checked(flight: Flight, answer: object) -> Answer:
    """The adapter's answer, or why it is not a usable `ProviderResponse`, as an error."""
    option = flight.option
    error = _malformed(answer, option.route.name, option.size)
    if error is not None:
        flight.run.log.error(
            "attempt.adapter_bug", route=option.route.name, size=option.size, error=error.message
        )
        return None, error
    return answer, None  # type: ignore[return-value]  # checked by _malformed


async def _stop_call(flight: Flight, task: asyncio.Task[Any]) -> bool:
    """Cancel the adapter's call and give it `ABANDON_GRACE_S` of clock time to end.
    True when it did not: the engine keeps the task (cancelled, never awaited) so the
    request can end at its deadline instead of when the adapter gives up."""
    if task.done():
        return False
    task.cancel()
    engine = flight.run.engine
    # Held from now on, however this wait ends: the loop keeps only weak references.
    engine.abandon(task)
    if await wait_task(engine.clock, task, ABANDON_GRACE_S):
        return False
    option: Option = flight.option
    flight.run.log.warning(
        "attempt.abandoned",
        route=option.route.name,
        size=option.size,
        grace_s=ABANDON_GRACE_S,
    )
    return True


def _malformed(answer: object, route: str, size: Size) -> UpstreamError | None:
    """Why an adapter's answer is not a usable `ProviderResponse`, as the attempt's error
    (a plugin may hand back whatever its upstream sent); None when it is one. A cost that
    cannot be a price does not make the answer unusable: the attempt books the estimate."""
    problem: str | None = None
    if not isinstance(answer, ProviderResponse):
        problem = f"returned {type(answer).__name__}, not a ProviderResponse"
    elif not _all_images(answer.images):
        problem = "returned images that are not GeneratedImage objects"
    elif answer.billing not in _BILLINGS:
        problem = f"returned billing {_short(answer.billing)}"
    # A dict is a Mapping: asked first, as the ABC's check costs a request a microsecond.
    elif type(answer.metadata) is not dict and not isinstance(answer.metadata, Mapping):
        problem = f"returned metadata of type {type(answer.metadata).__name__}"
    if problem is None:
        return None
    # The call went through, so the provider may have charged for it.
    return UpstreamError(
        f"adapter {problem}", route=route, size=size, retryable=False, billing="possibly_billed"
    )


def _all_images(images: object) -> bool:
    """Whether ``images`` is a tuple or list of `GeneratedImage` objects (a loop, not
    ``all()`` over a generator: this runs for every answer)."""
    if not isinstance(images, tuple | list):
        return False
    for image in images:  # noqa: SIM110  # all() over a generator costs more
        if not isinstance(image, GeneratedImage):
            return False
    return True


def _short(value: object) -> str:
    """``repr(value)`` cut to a length fit for a message (the value came from upstream)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

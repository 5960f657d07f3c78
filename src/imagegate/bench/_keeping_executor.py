"""A thread pool that keeps the coroutines its threads return, so none is dropped un-awaited.

LiteLLM's ``aimage_generation`` runs the provider call in the loop's default executor, and
for OpenAI-style deployments the thread returns a coroutine that LiteLLM then awaits. When
the caller is cancelled (the benchmark's deadline) while the thread still runs, asyncio
drops the thread's result, and that coroutine is garbage-collected never started, with a
``RuntimeWarning``. This executor holds each returned coroutine; `close_unstarted` closes
the ones nobody started, which is what their owner would have done.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Final, ParamSpec, TypeVar

__all__ = ["KeepingExecutor"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

_PRUNE_AT: Final = 256
"""Finished coroutines are forgotten whenever this many are held."""


class KeepingExecutor(ThreadPoolExecutor):
    """A `ThreadPoolExecutor` that keeps every coroutine its calls return until it is started."""

    def __init__(self, max_workers: int) -> None:
        super().__init__(max_workers=max_workers)
        self._lock = threading.Lock()
        self._returned: list[Coroutine[Any, Any, Any]] = []

    def submit(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Run ``fn(*args, **kwargs)`` in a thread, keeping a coroutine it returns."""
        return super().submit(self._keeping, fn, *args, **kwargs)

    def _keeping(self, fn: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        result = fn(*args, **kwargs)
        if inspect.iscoroutine(result):
            with self._lock:
                if len(self._returned) >= _PRUNE_AT:
                    self._returned = [c for c in self._returned if _unstarted(c)]
                self._returned.append(result)
        return result

    def close_unstarted(self) -> int:
        """Close each kept coroutine that was never started; how many there were.

        Call it once the callers are done (after `shutdown`): a coroutine still unstarted
        then is one whose caller was cancelled while the thread ran.
        """
        with self._lock:
            returned, self._returned = self._returned, []
        unstarted = [c for c in returned if _unstarted(c)]
        for coroutine in unstarted:
            coroutine.close()
        return len(unstarted)


def _unstarted(coroutine: Coroutine[Any, Any, Any]) -> bool:
    return inspect.getcoroutinestate(coroutine) == inspect.CORO_CREATED

"""The LiteLLM contender's executor closes the coroutines its cancelled callers dropped."""

from __future__ import annotations

import asyncio
import gc
import threading

from imagegate.bench._keeping_executor import KeepingExecutor


async def _image() -> bytes:
    return b"image"


async def test_a_coroutine_returned_to_a_cancelled_caller_is_closed_not_dropped() -> None:
    # The shape of LiteLLM's aimage_generation: a thread returns a coroutine, and the
    # awaiting side is cancelled while the thread still runs.
    executor = KeepingExecutor(max_workers=2)
    release = threading.Event()

    def provider_call() -> object:
        release.wait(timeout=5)
        return _image()

    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(loop.run_in_executor(executor, provider_call))
    await asyncio.sleep(0)
    waiting.cancel()
    release.set()
    executor.shutdown(wait=True)
    for _ in range(3):
        await asyncio.sleep(0)
    # Without the executor, collecting the dropped coroutine warns "never awaited", which
    # this suite's filterwarnings = error turns into a failure.
    assert executor.close_unstarted() == 1
    gc.collect()


async def test_a_coroutine_its_caller_awaited_is_left_alone() -> None:
    executor = KeepingExecutor(max_workers=1)
    loop = asyncio.get_running_loop()
    coroutine = await loop.run_in_executor(executor, _image)
    assert await coroutine == b"image"
    executor.shutdown(wait=True)
    assert executor.close_unstarted() == 0

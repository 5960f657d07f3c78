"""`Router.generate_many` pulls its input only as requests finish: a generator of 100,000
requests is never held in memory, and what it pulls stays a few requests ahead."""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from contextlib import aclosing

from imagegate import Route, Router
from imagegate.testing import FakeProvider

CONCURRENCY = 8
ANSWERS = 2_000


class _Prompts:
    """A generator of ``count`` prompts that counts how many were pulled."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.pulled = 0

    def __iter__(self) -> Iterator[str]:
        for n in range(self.count):
            self.pulled += 1
            yield f"prompt {n} " + "x" * 64


async def _peak_bytes(prompts: _Prompts, answers_wanted: int) -> int:
    """Peak traced memory above the start while ``answers_wanted`` answers are taken
    (then the loop is left, cancelling the rest)."""
    fake = FakeProvider()
    async with Router([Route(fake, model="m")]) as router:
        tracemalloc.start()
        try:
            base = tracemalloc.get_traced_memory()[0]
            taken = 0
            async with aclosing(router.generate_many(prompts, concurrency=CONCURRENCY)) as answers:
                async for answer in answers:
                    assert answer.ok
                    fake.calls.clear()  # FakeProvider keeps every call; the router must not
                    taken += 1
                    if taken == answers_wanted:
                        break
            assert taken == answers_wanted
            return tracemalloc.get_traced_memory()[1] - base
        finally:
            tracemalloc.stop()


async def test_generate_many_holds_a_100000_request_generator_in_bounded_memory() -> None:
    """2,000 answers from a generator of 100,000 requests peak within 2 MB of 2,000 from
    one of 2,000, and the generator is pulled at most a few times ``concurrency`` ahead
    (the list of the 100,000 that the pool used to make is 22 MB)."""
    small = await _peak_bytes(_Prompts(ANSWERS), ANSWERS)
    large_prompts = _Prompts(100_000)
    large = await _peak_bytes(large_prompts, ANSWERS)
    assert large_prompts.pulled <= ANSWERS + 3 * CONCURRENCY
    assert large - small < 2_000_000, (small, large)
    assert large < 8_000_000, large

"""`Router.generate_many` on iterables and async iterables: every input answered once,
and an input iterator that fails ends the loop with its error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from imagegate import FakeClock, Route, Router
from imagegate.testing import FakeProvider, succeed


async def test_an_async_generator_of_requests_is_answered_once_each(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """An async generator works as a list does: one answer per input, indices in order."""
    fake.default = succeed(latency_s=3.0)

    async def prompts() -> AsyncIterator[str]:
        for n in range(20):
            yield f"p{n}"

    async with Router([Route(fake, model="m")], clock=clock) as router:
        answers = [a async for a in router.generate_many(prompts(), concurrency=4)]
    assert sorted(a.index for a in answers) == list(range(20))
    assert all(a.ok for a in answers)


async def test_a_failing_input_iterator_ends_the_loop_with_its_error(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """The caller's generator raising is the caller's error, raised from the loop, and
    nothing is left running."""

    def prompts() -> Iterator[str]:
        yield "a"
        yield "b"
        raise LookupError("the catalogue went away")

    seen: list[int] = []

    async def drain(router: Router) -> None:
        async for answer in router.generate_many(prompts(), concurrency=1):
            seen.append(answer.index)

    async with Router([Route(fake, model="m")], clock=clock) as router:
        with pytest.raises(LookupError, match="catalogue"):
            await drain(router)
        assert router.engine.dispatcher.statistics().in_flight == 0
    assert seen == [0, 1]

"""The Router's ladder, attempts, timeouts and the deadline, on a fake clock.

Retries and hedging are off here (`_ladder`) so each test sees the bare ladder; the
resilience engine has its own tests in tests/engine/.
"""

from __future__ import annotations

from typing import Any

import pytest

from imagegate import Capabilities, FakeClock, Route, Router, SkippedOption
from imagegate.errors import (
    AllRoutesFailed,
    ConfigurationError,
    ContentBlocked,
    InvalidRequestError,
    Overloaded,
    QuotaExhausted,
)
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, fail, succeed


def _ladder(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    """A router with one attempt per option, no hedging, the plain ladder order and no
    learned timeouts (what these tests check is the ladder itself)."""
    kwargs.setdefault("order", "ladder")
    kwargs.setdefault("timeouts", None)
    return Router(routes, clock=clock, retry=RetryPolicy(attempts=1), hedge=None, **kwargs)


def _pair(clock: FakeClock) -> tuple[FakeProvider, FakeProvider]:
    return FakeProvider("a", clock=clock), FakeProvider("b", clock=clock)


async def test_first_route_answers(clock: FakeClock, fake: FakeProvider) -> None:
    """A healthy first route answers with one attempt and a complete result."""
    fake.script("2K", succeed(latency_s=40.0))
    async with _ladder([Route(fake, model="m")], clock) as router:
        result = await router.generate("a lighthouse", size="2K", aspect_ratio="16:9")
    assert (result.route, result.provider, result.model) == ("fake/m", "fake", "m")
    assert (result.requested_size, result.size, result.downgraded) == ("2K", "2K", False)
    assert result.latency_s == 40.0
    assert result.cost_usd == pytest.approx(0.01)
    [attempt] = result.attempts
    assert (attempt.outcome, attempt.billing, attempt.started, attempt.ended) == (
        "success",
        "billed",
        0.0,
        40.0,
    )
    assert result.image.width > result.image.height


async def test_fails_over_in_route_order(clock: FakeClock) -> None:
    """An overloaded first route hands over to the second; both attempts are kept."""
    a, b = _pair(clock)
    a.script("1K", fail(Overloaded("The model is overloaded."), latency_s=2.0))
    b.script("1K", succeed(latency_s=10.0))
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        result = await router.generate("x")
    assert result.route == "b/m"
    assert [(t.route, t.outcome) for t in result.attempts] == [("a/m", "error"), ("b/m", "success")]
    assert isinstance(result.attempts[0].error, Overloaded)
    assert result.attempts[0].error.route == "a/m"
    assert result.latency_s == 12.0


async def test_ladder_order_downgrade_then_backup(clock: FakeClock) -> None:
    """Requested size on each primary, then smaller sizes, then backups."""
    a, b = _pair(clock)
    backup = FakeProvider("c", clock=clock)
    for provider in (a, b):
        provider.script("*", *(fail(Overloaded("busy")) for _ in range(3)))
    routes = [Route(a, model="m"), Route(b, model="m"), Route(backup, model="m", backup=True)]
    async with _ladder(routes, clock) as router:
        result = await router.generate("x", size="4K", min_size="2K")
    order = [(t.route, t.size) for t in result.attempts]
    assert order == [("a/m", "4K"), ("b/m", "4K"), ("a/m", "2K"), ("b/m", "2K"), ("c/m", "4K")]
    assert result.route == "c/m"


async def test_backup_only_when_allowed(clock: FakeClock) -> None:
    """allow_backup=False never touches a backup route."""
    a, backup = _pair(clock)
    a.script("1K", fail(Overloaded("busy")))
    routes = [Route(a, model="m"), Route(backup, model="m", backup=True)]
    async with _ladder(routes, clock) as router:
        with pytest.raises(AllRoutesFailed) as info:
            await router.generate("x", allow_backup=False)
    assert backup.calls == []
    assert len(info.value.attempts) == 1


async def test_all_routes_failed_carries_every_attempt(clock: FakeClock) -> None:
    """When nothing works, the error lists every attempt and why (and why the rest were
    skipped: b's quota, used up at 2K, is b's at 1K too)."""
    a, b = _pair(clock)
    a.default = fail(Overloaded("busy"), latency_s=1.0)
    b.default = fail(QuotaExhausted("daily quota"), latency_s=1.0)
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        with pytest.raises(AllRoutesFailed) as info:
            await router.generate("x", size="2K")
    assert [(t.route, t.size) for t in info.value.attempts] == [
        ("a/m", "2K"),
        ("b/m", "2K"),
        ("a/m", "1K"),
    ]
    assert "b/m@1K: breaker open" in info.value.skipped
    assert SkippedOption("b/m", "1K", "breaker_open", "breaker open") in info.value.skipped_options
    assert [str(s) for s in info.value.skipped_options] == list(info.value.skipped)
    assert "daily quota" in str(info.value)


async def test_attempt_timeout_is_recorded_as_possibly_billed(clock: FakeClock) -> None:
    """A slow attempt is cut at attempt_timeout_s, cancelled, and counted as possibly billed."""
    a, b = _pair(clock)
    a.script("4K", succeed(latency_s=600.0))
    b.script("4K", succeed(latency_s=30.0))
    routes = [Route(a, model="m"), Route(b, model="m")]
    async with _ladder(routes, clock, attempt_timeout_s=120.0) as router:
        result = await router.generate("x", size="4K")
    first = result.attempts[0]
    assert (first.outcome, first.billing, first.duration_s) == ("timeout", "possibly_billed", 120)
    assert a.calls[0].result == "cancelled"
    assert result.cost_usd == pytest.approx(0.02)
    assert result.latency_s == 150.0


async def test_deadline_is_shared_by_all_attempts(clock: FakeClock) -> None:
    """The request deadline caps each attempt and stops the ladder when it runs out."""
    a, b = _pair(clock)
    a.script("1K", fail(Overloaded("busy"), latency_s=80.0))
    b.script("1K", succeed(latency_s=80.0))
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        with pytest.raises(AllRoutesFailed, match="deadline reached") as info:
            await router.generate("x", deadline=100.0, allow_downgrade=False)
    durations = [t.duration_s for t in info.value.attempts]
    assert durations == [80.0, 20.0]
    assert clock.now() == 100.0


async def test_prompt_block_stops_the_request(clock: FakeClock) -> None:
    """A prompt refused for safety is not sent to the next route."""
    a, b = _pair(clock)
    a.script("1K", fail(ContentBlocked("PROHIBITED_CONTENT", stage="prompt")))
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        with pytest.raises(AllRoutesFailed):
            await router.generate("x")
    assert b.calls == []


async def test_invalid_request_skips_the_route(clock: FakeClock) -> None:
    """A route that rejects the request is not tried again at smaller sizes."""
    a, b = _pair(clock)
    a.script("2K", fail(InvalidRequestError("unsupported ratio")))
    b.script("2K", fail(Overloaded("busy")))
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        result = await router.generate("x", size="2K")
    assert [(t.route, t.size) for t in result.attempts] == [
        ("a/m", "2K"),
        ("b/m", "2K"),
        ("b/m", "1K"),
    ]


async def test_capabilities_skip_unreachable_sizes(clock: FakeClock) -> None:
    """A route that cannot deliver 4K is not asked for it, and the skip is explained."""
    small = FakeProvider("small", clock=clock, capabilities=Capabilities(sizes=frozenset({"1K"})))
    small.default = fail(Overloaded("busy"))
    async with _ladder([Route(small, model="m")], clock) as router:
        with pytest.raises(AllRoutesFailed) as info:
            await router.generate("x", size="4K")
    assert [c.request.size for c in small.calls] == ["1K"]
    assert any("cannot deliver 4K" in s for s in info.value.skipped)


async def test_size_ignored_and_downgrade_are_reported(
    clock: FakeClock, fake: FakeProvider
) -> None:
    """A provider returning 1K for a 4K request yields downgraded=True and size_ignored."""
    fake.script("4K", succeed(size="1K"))
    async with _ladder([Route(fake, model="m")], clock) as router:
        result = await router.generate("x", size="4K")
    assert (result.size, result.downgraded, result.size_ignored) == ("1K", True, True)


async def test_image_below_min_size_is_rejected(clock: FakeClock) -> None:
    """An image smaller than min_size counts as a failed (billed) attempt."""
    a, b = _pair(clock)
    a.script("2K", succeed(size="1K"))
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        result = await router.generate("x", size="2K", min_size="2K")
    assert result.route == "b/m"
    assert result.attempts[0].billing == "billed"
    assert "smaller than the smallest acceptable tier 2K" in str(result.attempts[0].error)


async def test_buggy_adapter_does_not_take_the_request_down(clock: FakeClock) -> None:
    """An adapter raising a non-imagegate exception becomes an UpstreamError attempt."""

    class Broken(FakeProvider):
        async def generate(self, request):  # type: ignore[no-untyped-def]
            raise KeyError("oops")

    a, b = Broken("broken", clock=clock), FakeProvider("b", clock=clock)
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        result = await router.generate("x")
    assert "adapter raised KeyError" in str(result.attempts[0].error)
    assert result.route == "b/m"


async def test_registry_routes_are_built_and_closed(clock: FakeClock) -> None:
    """Routes by name are built from the registry on enter and closed on exit."""
    router = _ladder([Route("fake", model="m")], clock)
    with pytest.raises(ConfigurationError, match="async with router"):
        await router.generate("x")
    async with router:
        result = await router.generate("x", n=3)
        provider = router.engine.providers[0]
    assert len(result.images) == 3
    assert getattr(provider, "closed", False) is True


def test_unknown_provider_and_bad_config() -> None:
    """Configuration mistakes raise ConfigurationError when the router is built, naming
    the argument at fault (tests/test_config.py has the rest)."""
    with pytest.raises(ConfigurationError, match=r"routes\[0\]\.provider: unknown provider 'nope'"):
        Router([Route("nope", model="m")])
    with pytest.raises(ConfigurationError, match="at least one route"):
        Router([])
    with pytest.raises(ConfigurationError, match="repeated: fake/m"):
        Router([Route("fake", model="m"), Route("fake", model="m")])


async def test_generate_validates_before_calling(clock: FakeClock, fake: FakeProvider) -> None:
    """Bad input is refused before any provider is called."""
    async with _ladder([Route(fake, model="m")], clock) as router:
        with pytest.raises(InvalidRequestError, match="size"):
            await router.generate("x", size="8K")  # type: ignore[arg-type]
    assert fake.calls == []


def test_route_repr_hides_the_key() -> None:
    """A route's repr shows that a key is set, never the key."""
    route = Route("gemini", model="m", api_key="AIza-very-secret-value-123", base_url="http://h")
    assert "very-secret" not in repr(route)
    assert "api_key=SecretStr('**********')" in repr(route)


async def test_a_loops_own_task_factory_makes_the_adapter_call_task() -> None:
    """The adapter's call runs in a task of its own, made by the loop's task factory when
    the application set one (an eager start on Python 3.12+ must not bypass it)."""
    import asyncio

    made: list[str] = []

    def factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
        made.append(coro.__qualname__)
        return asyncio.Task(coro, loop=loop, **kwargs)

    loop = asyncio.get_running_loop()
    loop.set_task_factory(factory)
    try:
        async with Router([Route(FakeProvider(), model="m")], seed=0) as router:
            result = await router.generate("a lighthouse")
    finally:
        loop.set_task_factory(None)
    assert result.size == "1K"
    assert "_invoke" in made


async def test_plans_follow_each_request_shape(clock: FakeClock) -> None:
    """Plans are kept per request shape: a route that cannot take the ratio, the number of
    images or the size of one request still serves the next request that it can take."""
    narrow = FakeProvider(
        "narrow",
        clock=clock,
        capabilities=Capabilities(
            sizes=frozenset({"1K", "2K"}), aspect_ratios=frozenset({"1:1"}), max_n=1
        ),
    )
    wide = FakeProvider("wide", clock=clock)
    routes = [Route(narrow, model="m"), Route(wide, model="m")]
    async with _ladder(routes, clock) as router:
        asked = [
            {"aspect_ratio": "16:9"},
            {"n": 2},
            {"size": "4K", "allow_downgrade": False},
            {},
            {"size": "4K"},
        ]
        served = [(await router.generate("a lighthouse", **a)).route for a in asked]
    assert served == ["wide/m", "wide/m", "wide/m", "narrow/m", "wide/m"]


@pytest.mark.parametrize("in_task", [True, False])
async def test_a_request_leaves_no_garbage_cycle(clock: FakeClock, in_task: bool) -> None:
    """Everything a request made is freed when it ends, by reference counting alone: a
    cycle (the run holds its parts, the parts the run) would leave each request's records
    and images to the garbage collector, whose passes a busy router then pays for."""
    import gc

    class Fake(FakeProvider):
        ends_when_cancelled = in_task

    a, b = Fake("a", clock=clock), Fake("b", clock=clock)
    overloaded = fail(Overloaded("The model is overloaded."), latency_s=2.0)
    a.script("4K", overloaded, overloaded)
    b.script("4K", overloaded, overloaded)
    async with _ladder([Route(a, model="m"), Route(b, model="m")], clock) as router:
        await router.generate("warm up")
        gc.collect()
        gc.disable()
        try:
            await router.generate("fails over, then steps down", size="4K")
            await router.generate("answers at once")
            with pytest.raises(AllRoutesFailed):
                await router.generate("x", size="4K", min_size="4K", allow_backup=False)
            found = gc.collect()
        finally:
            gc.enable()
    assert found == 0

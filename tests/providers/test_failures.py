"""Every failure kind the simulator can play, through every adapter, mapped to the right
imagegate error with the right ``retryable``, ``billing``, ``status`` and retry hint."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest

from imagegate.errors import (
    ContentBlocked,
    DeadlineExceeded,
    NoImageReturned,
    Overloaded,
    ProviderError,
    QuotaExhausted,
    RateLimited,
    TransportError,
    UpstreamError,
)
from imagegate.providers import registry
from imagegate.providers._google_errors import next_quota_reset
from imagegate.testing.simulator import Simulator

from ._support import DEFAULT_MODEL, ask, sim_config

# Flux polls on the simulator clock, so its attempt time is in simulated seconds. For
# "deadline" it must end well before the simulated server deadline (600 s) to be our own
# timeout; for the other kinds it is unlimited, so a loaded machine cannot turn them into
# timeouts (1 real ms is 10 simulated seconds here).
FLUX_DEADLINE_TIMEOUT_S = 100.0


class Expect(NamedTuple):
    """The mapped error one failure kind must produce."""

    error: type[ProviderError]
    retryable: bool
    billing: str
    status: int | None
    hint: str | None = None  # how retry_after_s is derived: "exact", "floor", "ceil", "constant"
    stage: str | None = None


_GOOGLE: dict[str, Expect] = {
    # RetryInfo.retryDelay is whole seconds, as Gemini sends it; the message states the
    # exact delay, which is kept.
    "rate_limited": Expect(RateLimited, True, "not_billed", 429, "exact"),
    "quota_exhausted": Expect(QuotaExhausted, False, "not_billed", 429),
    "overloaded": Expect(Overloaded, True, "not_billed", 503),
    "deadline": Expect(DeadlineExceeded, True, "not_billed", 504),
    "internal": Expect(UpstreamError, True, "not_billed", 500),
    "reset": Expect(TransportError, True, "possibly_billed", None),
    "truncated": Expect(TransportError, True, "possibly_billed", None),
    "html_502": Expect(TransportError, True, "possibly_billed", 502),
    "prompt_blocked": Expect(ContentBlocked, False, "not_billed", None, stage="prompt"),
    "image_safety": Expect(ContentBlocked, False, "not_billed", None, stage="output"),
    # This prompt draws an answer without text (NO_IMAGE, or STOP without parts): no output
    # tokens counted, so not billed; one whose refusal text counts tokens is billed
    # (test_gemini_billing_follows_usage, docs/providers.md).
    "text_refusal": Expect(NoImageReturned, True, "not_billed", None),
}

EXPECTED: dict[str, dict[str, Expect]] = {
    "gemini": _GOOGLE,
    "vertex": {
        **_GOOGLE,
        # Vertex 429s carry neither RetryInfo nor a QuotaFailure (dynamic shared quota).
        "rate_limited": Expect(RateLimited, True, "not_billed", 429),
        "quota_exhausted": Expect(RateLimited, True, "not_billed", 429),
    },
    "openai": {
        "rate_limited": Expect(RateLimited, True, "not_billed", 429, "exact"),
        "quota_exhausted": Expect(QuotaExhausted, False, "not_billed", 429),
        "overloaded": Expect(Overloaded, True, "not_billed", 503),
        "deadline": Expect(DeadlineExceeded, True, "not_billed", 504),
        "internal": Expect(UpstreamError, True, "not_billed", 500),
        "reset": Expect(TransportError, True, "possibly_billed", None),
        "truncated": Expect(TransportError, True, "possibly_billed", None),
        "html_502": Expect(TransportError, True, "possibly_billed", 502),
        "prompt_blocked": Expect(ContentBlocked, False, "not_billed", 400, stage="prompt"),
        "image_safety": Expect(ContentBlocked, False, "not_billed", 400, stage="output"),
        # gpt-image refuses with 400 moderation_blocked and no moderation_details.
        "text_refusal": Expect(ContentBlocked, False, "not_billed", 400, stage="prompt"),
    },
    "openai_compatible": {
        # OpenRouter relays an upstream rate limit without Retry-After.
        "rate_limited": Expect(RateLimited, True, "not_billed", 429),
        "quota_exhausted": Expect(QuotaExhausted, False, "not_billed", 402),
        "overloaded": Expect(Overloaded, True, "not_billed", 503, "constant"),
        # Reached after the answer started: HTTP 200 with the 504 in the body.
        "deadline": Expect(DeadlineExceeded, True, "not_billed", 504),
        "internal": Expect(UpstreamError, True, "not_billed", 502),
        "reset": Expect(TransportError, True, "possibly_billed", None),
        "truncated": Expect(TransportError, True, "possibly_billed", None),
        "html_502": Expect(TransportError, True, "possibly_billed", 502),
        "prompt_blocked": Expect(ContentBlocked, False, "not_billed", 403, stage="prompt"),
        # The block's usage counts output tokens (completion_tokens): billed, as Google
        # bills every token of an HTTP 200 (see docs/providers.md, errors and billing).
        "image_safety": Expect(ContentBlocked, False, "billed", None, stage="output"),
        "text_refusal": Expect(NoImageReturned, True, "billed", None),
    },
    "flux": {
        "rate_limited": Expect(RateLimited, True, "not_billed", 429, "ceil"),
        "quota_exhausted": Expect(QuotaExhausted, False, "not_billed", 402),
        "overloaded": Expect(Overloaded, True, "not_billed", 503),
        # Still Pending when our attempt time ran out; the task was accepted and priced.
        "deadline": Expect(DeadlineExceeded, True, "possibly_billed", None),
        "internal": Expect(UpstreamError, True, "possibly_billed", None),
        "reset": Expect(TransportError, True, "possibly_billed", None),
        # The sample download is cut short: the image was made, so it was billed.
        "truncated": Expect(TransportError, True, "billed", None),
        "html_502": Expect(TransportError, True, "possibly_billed", 502),
        "prompt_blocked": Expect(ContentBlocked, False, "possibly_billed", None, stage="prompt"),
        "image_safety": Expect(ContentBlocked, False, "possibly_billed", None, stage="output"),
        "text_refusal": Expect(UpstreamError, True, "possibly_billed", None),
    },
}

KNOWN_DEFECTS: dict[tuple[str, str], str] = {}
"""Cases the simulator's recorded shapes show the adapters getting wrong (strict xfail:
fixing the adapter turns them into failures until the mark is removed)."""

CASES = [
    pytest.param(
        p, k, marks=[pytest.mark.xfail(strict=True, reason=KNOWN_DEFECTS[p, k])]
    ) if (p, k) in KNOWN_DEFECTS else pytest.param(p, k)
    for p, kinds in EXPECTED.items()
    for k in kinds
]  # fmt: skip


def _timeout(provider: str, kind: str) -> float | None:
    if provider != "flux":
        return 30.0
    return FLUX_DEADLINE_TIMEOUT_S if kind == "deadline" else None


@pytest.mark.parametrize(
    ("provider", "kind"), CASES, ids=[f"{c.values[0]}-{c.values[1]}" for c in CASES]
)
async def test_failure_kind_is_mapped(sim: Simulator, make: Any, provider: str, kind: str) -> None:
    """Each simulated failure becomes the expected error class, flags and status."""
    expect = EXPECTED[provider][kind]
    model = DEFAULT_MODEL[provider]
    size = "1K" if provider == "openai" else "2K"
    prompt = f"a lighthouse at dusk ({provider} {kind}) [sim:{kind}]"
    adapter = make(provider)
    with pytest.raises(expect.error) as info:
        await adapter.generate(ask(prompt, model, size, "16:9", timeout_s=_timeout(provider, kind)))
    error = info.value
    assert type(error) is expect.error
    assert error.retryable is expect.retryable
    assert error.billing == expect.billing
    assert error.status == expect.status
    assert error.route == f"{provider}/{model}"
    assert error.size == size
    if expect.stage is not None:
        assert isinstance(error, ContentBlocked)
        assert error.stage == expect.stage
        assert error.reason
    plan = sim.world.plan(prompt=prompt, provider=provider, model=model, size=size)
    if expect.hint == "exact":
        assert error.retry_after_s == pytest.approx(plan.retry_after_s, abs=1e-3)
    elif expect.hint == "floor":
        assert error.retry_after_s == math.floor(plan.retry_after_s)
    elif expect.hint == "ceil":
        assert error.retry_after_s == max(1, math.ceil(plan.retry_after_s))
    elif expect.hint == "constant":
        assert error.retry_after_s is not None
        assert error.retry_after_s > 0
    elif not isinstance(error, QuotaExhausted):
        assert error.retry_after_s is None


async def test_gemini_retry_hint_keeps_fractions(sim: Simulator, make: Any) -> None:
    """The retry hint keeps the fraction of a second Gemini states in its message."""
    adapter = make("gemini")
    for n in range(20):
        prompt = f"fractional retry {n} [sim:rate_limited]"
        plan = sim.world.plan(
            prompt=prompt, provider="gemini", model="gemini-3-pro-image", size="1K"
        )
        if plan.retry_after_s % 1:
            break
    else:
        pytest.fail("no prompt with a fractional retry delay found")
    with pytest.raises(RateLimited) as info:
        await adapter.generate(ask(prompt, "gemini-3-pro-image"))
    assert info.value.retry_after_s is not None
    assert info.value.retry_after_s % 1 == pytest.approx(plan.retry_after_s % 1, abs=1e-3)


async def test_gemini_daily_quota_resets_at_pacific_midnight(sim: Simulator, make: Any) -> None:
    """A per-day QuotaFailure is QuotaExhausted until the next midnight in Los Angeles."""
    adapter = make("gemini")
    before = next_quota_reset()
    with pytest.raises(QuotaExhausted) as info:
        await adapter.generate(ask("daily quota [sim:quota_exhausted]", "gemini-3-pro-image"))
    after = next_quota_reset()
    error = info.value
    assert error.scope == "requests_per_day"
    assert error.reset_at in (before, after)
    assert error.reset_at is not None
    local = error.reset_at.astimezone(ZoneInfo("America/Los_Angeles"))
    assert (local.hour, local.minute, local.second) == (0, 0, 0)
    remaining = (error.reset_at - datetime.now(error.reset_at.tzinfo)).total_seconds()
    assert 0 < remaining <= 25 * 3600
    assert error.retry_after_s == pytest.approx(remaining, abs=5)


@pytest.mark.parametrize("provider", ["gemini", "vertex", "openai", "openai_compatible"])
async def test_own_timeout_is_a_possibly_billed_deadline(
    sim: Simulator, make: Any, provider: str
) -> None:
    """Our attempt timeout (passed to the SDK) ends the call as possibly billed."""
    adapter = make(provider)
    prompt = f"slow one ({provider}) [sim:success~500]"  # 500 simulated s = 50 ms
    with pytest.raises(DeadlineExceeded) as info:
        await adapter.generate(ask(prompt, DEFAULT_MODEL[provider], timeout_s=0.01))
    assert info.value.status is None
    assert info.value.billing == "possibly_billed"
    assert info.value.retryable is True
    stats = await sim.wait_idle()
    assert stats.in_flight == 0


async def test_flux_attempt_time_bounds_the_polling() -> None:
    """A Flux task pending past the attempt time: possibly billed DeadlineExceeded, on time."""
    async with Simulator("healthy", seed=0, time_scale=0.001) as sim:  # 1 simulated s = 1 ms
        adapter = registry.create("flux", sim_config(sim, "flux"))
        started = sim.clock.now()
        try:
            with pytest.raises(DeadlineExceeded) as info:
                await adapter.generate(
                    ask("slow flux [sim:success~400]", "flux-pro-1.1", timeout_s=50)
                )
        finally:
            await adapter.aclose()
        elapsed = sim.clock.now() - started
    assert info.value.billing == "possibly_billed"
    assert 50 <= elapsed < 300  # the task would have taken 400


@pytest.mark.parametrize("provider", ["gemini", "vertex", "openai", "openai_compatible", "flux"])
async def test_refused_connection_is_not_billed_and_fast(
    unused_tcp_port: int, make: Any, provider: str
) -> None:
    """Nothing listening: TransportError, not billed, at once (no hidden SDK retry)."""
    adapter = make(provider, base_url=f"http://127.0.0.1:{unused_tcp_port}/api")
    timeout = None if provider == "flux" else 30.0  # Flux: simulated seconds, no limit
    with pytest.raises(TransportError) as info:
        await adapter.generate(ask("anyone there?", DEFAULT_MODEL[provider], timeout_s=timeout))
    assert info.value.billing == "not_billed"
    assert info.value.retryable is True


@pytest.mark.parametrize("provider", ["gemini", "vertex", "openai", "openai_compatible", "flux"])
async def test_wrong_key_is_an_authentication_error(make: Any, provider: str) -> None:
    """A key the service rejects is AuthenticationError: not retryable, not billed."""
    from imagegate.errors import AuthenticationError

    options: dict[str, Any] = {"api_key": f"wrong-{provider}-key-0123456789"}
    adapter = make(provider, **options)
    with pytest.raises(AuthenticationError) as info:
        await adapter.generate(ask("who am I", DEFAULT_MODEL[provider], timeout_s=None))
    assert info.value.retryable is False
    assert info.value.billing == "not_billed"
    assert info.value.status in (400, 401, 403)

"""Edits routed like generation: routes that cannot take the inputs are skipped with their
reason, the provider gets exactly the caller's images, the same objects on every attempt,
and the estimate prices the inputs. A real Router over FakeProvider routes, fake clock."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from imagegate import (
    Capabilities,
    FakeClock,
    GeneratedImage,
    ImageRequest,
    ProviderRequest,
    Route,
    Router,
)
from imagegate.errors import InvalidRequestError, Overloaded
from imagegate.resilience.hedge import HedgePolicy
from imagegate.resilience.retry import RetryPolicy
from imagegate.testing import FakeProvider, fail, make_jpeg, make_png, succeed

from ._images import png

PRICES = {"1K": 0.04, "2K": 0.08, "4K": 0.16}


def _fake(name: str, clock: FakeClock, **limits: Any) -> FakeProvider:
    """A fake whose models take the input limits given (none by default)."""
    caps = Capabilities(max_n=4, price_usd=PRICES, **limits)
    return FakeProvider(name, capabilities=caps, clock=clock)


def _router(routes: list[Route], clock: FakeClock, **kwargs: Any) -> Router:
    kwargs.setdefault("retry", RetryPolicy(attempts=1))
    kwargs.setdefault("hedge", None)
    kwargs.setdefault("order", "ladder")
    return Router(routes, clock=clock, **kwargs)


def _photos(count: int) -> list[GeneratedImage]:
    return [GeneratedImage(make_png(64 + i, 48, seed=i)) for i in range(count)]


async def test_eight_images_skip_a_route_taking_three(clock: FakeClock) -> None:
    """8 images pass over the route taking 3 (its reason in `skipped`) and land on the one
    taking 14, which receives the very images given, in order."""
    small, large = (
        _fake("small", clock, max_input_images=3),
        _fake("large", clock, max_input_images=14),
    )
    photos = _photos(8)
    async with _router([Route(small, model="m"), Route(large, model="m")], clock) as router:
        result = await router.generate("put them on a shelf", images=photos)
    assert result.route == "large/m"
    assert small.calls == []
    [call] = large.calls
    assert all(got is given for got, given in zip(call.images, photos, strict=True))
    [skip] = result.skipped
    assert (skip.route, skip.size, skip.reason) == ("small/m", "1K", "unsupported")
    assert skip.detail == "8 input images, the model takes at most 3"


async def test_a_mask_skips_a_route_without_mask_support(clock: FakeClock) -> None:
    """A route whose model takes images but no mask is skipped for a masked edit only."""
    plain = _fake("plain", clock, max_input_images=4)
    masked = _fake("masked", clock, max_input_images=4, supports_mask=True)
    photo, mask = png(64, 48, colour_type=2), png(64, 48)
    routes = [Route(plain, model="m"), Route(masked, model="m")]
    async with _router(routes, clock) as router:
        edited = await router.generate("a red door", images=[photo], mask=mask)
        referenced = await router.generate("a red door", images=[photo])
    assert (edited.route, referenced.route) == ("masked/m", "plain/m")
    assert [str(s) for s in edited.skipped] == ["plain/m@1K: a mask, the model takes none"]
    [call] = masked.calls
    assert call.request.mask is not None
    assert call.request.mask.data == mask


async def test_format_and_byte_limits_skip_routes(clock: FakeClock) -> None:
    """An input in a format the model does not take, or above its byte limit, skips it."""
    png_only = _fake(
        "pngonly", clock, max_input_images=2, input_mime_types=frozenset({"image/png"})
    )
    tiny = _fake("tiny", clock, max_input_images=2, max_input_image_bytes=200)
    roomy = _fake("roomy", clock, max_input_images=2)
    jpeg = make_jpeg(300, 200)
    routes = [Route(png_only, model="m"), Route(tiny, model="m"), Route(roomy, model="m")]
    async with _router(routes, clock) as router:
        result = await router.generate("sharper", images=[make_png(30, 20), jpeg])
    assert result.route == "roomy/m"
    details = [s.detail for s in result.skipped]
    assert details == [
        "images[1] is image/jpeg, the model takes image/png",
        f"images[1] is {len(jpeg):,} bytes, the model takes at most 200",
    ]


async def test_no_route_takes_the_inputs_fails_before_any_call(clock: FakeClock) -> None:
    """When no route can take the inputs the request fails at once, an InvalidRequestError
    that names each route's limit; no provider is called."""
    text_only = _fake("text", clock)
    three = _fake("three", clock, max_input_images=3)
    routes = [Route(text_only, model="m"), Route(three, model="m")]
    async with _router(routes, clock) as router:
        with pytest.raises(InvalidRequestError) as info:
            await router.generate("a collage", images=_photos(5), size="2K")
    message = str(info.value)
    assert "no route could take the request" in message
    assert "skipped text/m: 5 input images, the model takes none" in message
    assert "skipped three/m: 5 input images, the model takes at most 3" in message
    assert message.count("three/m") == 1  # once per route, not once per size
    assert info.value.field == "images"
    assert text_only.calls == three.calls == []
    assert clock.now() == 0.0


async def test_retry_gets_the_same_image_objects(clock: FakeClock) -> None:
    """A retried attempt hands the provider the same tuple of the same image objects."""
    fake = _fake("f", clock, max_input_images=4, supports_mask=True)
    fake.script("1K", fail(Overloaded("busy"), latency_s=1.0), succeed(latency_s=2.0))
    photos = _photos(2)
    mask = GeneratedImage(png(64, 48))
    retry = RetryPolicy(attempts=2, wait_initial_s=1.0, rng=random.Random(3))
    async with _router([Route(fake, model="m")], clock, retry=retry) as router:
        result = await router.generate("x", images=photos, mask=mask)
    assert len(result.attempts) == 2
    first, second = fake.calls
    assert first.request.images is second.request.images
    assert first.request.mask is second.request.mask is mask
    assert [id(i) for i in first.images] == [id(p) for p in photos]


async def test_hedge_gets_the_same_image_objects(clock: FakeClock) -> None:
    """A hedge raced against a slow 4K sends the same image tuple as the attempt it hedges."""
    fake = _fake("f", clock, max_input_images=4)
    fake.script("4K", succeed(latency_s=500.0))
    fake.script("2K", succeed(latency_s=60.0))
    hedge = HedgePolicy(size="2K", delay_s=100.0)
    async with _router([Route(fake, model="m")], clock, hedge=hedge) as router:
        result = await router.generate("x", images=_photos(3), size="4K")
    assert result.attempts[1].hedge
    slow, quick = fake.calls
    assert slow.request.images is quick.request.images
    assert len(slow.images) == 3


async def test_the_estimate_prices_each_input_image(clock: FakeClock) -> None:
    """An attempt is booked at the image price plus the input price for every input."""
    fake = _fake("f", clock, max_input_images=4, input_image_price_usd=0.002)
    async with _router([Route(fake, model="m")], clock) as router:
        edit = await router.generate("x", images=_photos(3), n=2)
        plain = await router.generate("x", n=2)
    assert edit.cost_usd == pytest.approx(2 * 0.04 + 3 * 0.002)
    assert plain.cost_usd == pytest.approx(2 * 0.04)


async def test_cheapest_strategy_counts_the_input_price(clock: FakeClock) -> None:
    """With inputs, the cheapest route is the one cheapest with their price included."""
    dear_inputs = FakeProvider(
        "a",
        clock=clock,
        capabilities=Capabilities(
            price_usd={"1K": 0.03}, max_input_images=8, input_image_price_usd=0.01
        ),
    )
    plain = FakeProvider(
        "b", clock=clock, capabilities=Capabilities(price_usd={"1K": 0.05}, max_input_images=8)
    )
    routes = [Route(dear_inputs, model="m"), Route(plain, model="m")]
    async with _router(routes, clock, strategy="cheapest") as router:
        edit = await router.generate("x", images=_photos(4))
        text = await router.generate("x")
    assert (edit.route, text.route) == ("b/m", "a/m")


async def test_the_ratio_follows_the_first_image(clock: FakeClock) -> None:
    """aspect_ratio=None follows images[0] (snapped), stays 1:1 without images, and an
    explicit ratio wins."""
    fake = _fake("f", clock, max_input_images=4)
    wide, tall = make_png(1920, 1080), make_png(1000, 1250)
    async with _router([Route(fake, model="m")], clock) as router:
        followed = await router.generate("x", images=[wide, tall])
        await router.generate("x", images=[tall, wide])
        await router.generate("x")
        await router.generate("x", images=[wide], aspect_ratio="1:1")
    assert [c.request.aspect_ratio for c in fake.calls] == ["16:9", "4:5", "1:1", "1:1"]
    assert followed.image.width > followed.image.height


async def test_generate_many_takes_images_and_masks(clock: FakeClock, tmp_path: Path) -> None:
    """Mappings with ``images`` and ``mask`` (paths here) and ImageRequest objects carrying
    them run like generate; a bad input is that request's own error."""
    fake = _fake("f", clock, max_input_images=4, supports_mask=True)
    photo, mask = tmp_path / "photo.png", tmp_path / "mask.png"
    photo.write_bytes(png(64, 48, colour_type=2))
    mask.write_bytes(png(64, 48))
    built = ImageRequest.build("c", images=[make_png(300, 100)])
    requests = [
        {"prompt": "a", "images": [photo], "mask": mask},
        {"prompt": "b", "images": [tmp_path / "missing.png"]},
        built,
        "plain text",
    ]
    async with _router([Route(fake, model="m")], clock) as router:
        answers = {a.index: a async for a in router.generate_many(requests, concurrency=2)}
    assert [answers[i].ok for i in range(4)] == [True, False, True, True]
    error = answers[1].error
    assert isinstance(error, InvalidRequestError)
    assert "images[0]: no such file" in str(error)
    sent = {c.request.prompt: c.request for c in fake.calls}
    assert sent["a"].images[0].data == photo.read_bytes()
    assert sent["a"].mask is not None
    assert sent["c"].images is built.images
    assert sent["c"].aspect_ratio == "21:9"
    assert sent["plain text"].images == ()


async def test_the_fake_refuses_inputs_beyond_its_capabilities(clock: FakeClock) -> None:
    """Called directly, FakeProvider refuses (as an adapter would) inputs its model cannot
    take, and records no call."""
    fake = _fake("f", clock, max_input_images=1)
    photos = tuple(_photos(2))
    with pytest.raises(InvalidRequestError, match="2 input images, the model takes at most 1"):
        await fake.generate(ProviderRequest("x", "m", "1K", images=photos))
    assert fake.calls == []
    answer = await fake.generate(ProviderRequest("x", "m", "1K", images=photos[:1]))
    assert answer.images
    assert fake.calls[0].images == photos[:1]

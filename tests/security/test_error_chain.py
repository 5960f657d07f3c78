"""No key is reachable from an error `Router.generate` raises: not through its causes,
its context, its arguments or any attribute of anything it holds."""

from __future__ import annotations

import io
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from rich.console import Console
from rich.traceback import Traceback

from imagegate import Capabilities, ProviderRequest, ProviderResponse, Route, Router
from imagegate.errors import AllRoutesFailed, ImageGateError, UpstreamError
from imagegate.providers import ProviderConfig, registry

from ._leaky import HANDLERS, KEYS, MODELS, hostile_server, route_to
from ._reach import paths_to


def test_the_walker_finds_a_key_in_a_live_vendor_exception() -> None:
    """The search reaches a key held the way an SDK holds it: in the request's headers."""
    from aiohttp import ClientResponseError, RequestInfo
    from multidict import CIMultiDict, CIMultiDictProxy
    from yarl import URL

    key = KEYS["gemini"]
    url = URL("http://127.0.0.1/v1/models")
    headers = CIMultiDictProxy(CIMultiDict({"x-goog-api-key": key}))
    vendor = ClientResponseError(RequestInfo(url, "POST", headers, url), (), status=400)
    outer = RuntimeError("mapped")
    outer.__cause__ = vendor
    assert paths_to(key, outer) == ["error.__cause__.request_info[2]['x-goog-api-key']"]


@pytest.mark.parametrize("answer", HANDLERS)
@pytest.mark.parametrize("provider", MODELS)
async def test_no_key_is_reachable_from_the_error(provider: str, answer: str) -> None:
    """Whatever a hostile upstream answers, the error raised holds no key anywhere."""
    async with hostile_server(HANDLERS[answer]) as base_url:
        routes = [route_to(provider, base_url)]
        async with Router(routes, attempt_timeout_s=5.0, retry=None, hedge=None) as router:
            with pytest.raises(ImageGateError) as info:
                await router.generate("a lighthouse")
    error = info.value
    assert paths_to(KEYS[provider], error) == []
    assert KEYS[provider] not in "".join(traceback.format_exception(error))


class VendorError(Exception):
    """What an SDK raises: the failed request, headers and all, kept on the exception."""

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers


class ChainingPlugin:
    """A third-party provider that maps its SDK's error the usual way: ``from exc``."""

    name = "chaining"

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def capabilities(self, model: str) -> Capabilities:
        """Every tier, one image."""
        return Capabilities()

    async def generate(self, request: ProviderRequest) -> ProviderResponse:
        """Fail with a mapped error chained to a vendor exception that holds the key."""
        headers = {"authorization": f"Bearer {self._api_key}"}
        try:
            raise VendorError("HTTP 502", headers)
        except VendorError as exc:
            raise UpstreamError("bad gateway", retryable=False) from exc

    async def aclose(self) -> None:
        """Nothing to close."""


def _rendered_with_locals(error: BaseException) -> str:
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(
        Traceback.from_exception(type(error), error, error.__traceback__, show_locals=True)
    )
    out = console.file
    assert isinstance(out, io.StringIO)
    return out.getvalue()


async def test_a_plugin_error_chain_is_detached() -> None:
    """A plugin's error chained to a live vendor exception reaches the caller without it."""
    key = "sk-proj-ChainTest0123456789abcdefghijklmnopqrs"
    routes = [Route(ChainingPlugin(key), model="m")]
    async with Router(routes, retry=None, hedge=None) as router:
        with pytest.raises(ImageGateError) as info:
            await router.generate("a lighthouse")
    error = info.value
    assert paths_to(key, error) == []
    cause = error.errors[0].__cause__ if isinstance(error, AllRoutesFailed) else error.__cause__
    assert "VendorError: HTTP 502" in str(cause)  # the cause is still told


def _frame_locals(error: BaseException) -> Iterator[tuple[str, dict[str, Any]]]:
    """The locals of every frame in the tracebacks of ``error`` and of its causes."""
    link: BaseException | None = error
    for _ in range(20):
        if link is None:
            return
        tb = link.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            yield f"{type(link).__name__} in {frame.f_code.co_name}", dict(frame.f_locals)
            tb = tb.tb_next
        link = link.__cause__ or link.__context__


@pytest.mark.parametrize("provider", MODELS)
async def test_tracebacks_keep_no_key_in_frame_locals(provider: str) -> None:
    """No frame in the tracebacks of the raised error, of its attempts' errors or of their
    causes keeps a key in its locals, so rich's ``show_locals`` cannot show one."""
    failure = await _failure(provider)  # caught in a frame that never held the key
    assert KEYS[provider] not in _rendered_with_locals(failure)
    for error in [failure, *getattr(failure, "errors", ())]:
        for where, names in _frame_locals(error):
            assert paths_to(KEYS[provider], names) == [], where


async def _failure(provider: str) -> ImageGateError:
    async with hostile_server(HANDLERS["duplicate_content_length"]) as base_url:
        routes = [route_to(provider, base_url)]
        async with Router(routes, attempt_timeout_s=5.0, retry=None, hedge=None) as router:
            try:
                await router.generate("a lighthouse")
            except ImageGateError as exc:
                return exc
    raise AssertionError("the hostile server did not make the call fail")


@pytest.mark.parametrize(
    ("provider", "answer"),
    [
        ("gemini", "duplicate_content_length"),
        ("flux", "duplicate_content_length"),
        ("openai", "server_error"),
        ("openai_compatible", "server_error"),
    ],
)
async def test_an_adapter_used_alone_raises_errors_holding_no_key(
    provider: str, answer: str
) -> None:
    """Called directly, without a router, an adapter's error holds no key either: its
    context is not the SDK's live exception."""
    async with hostile_server(HANDLERS[answer]) as base_url:
        config = ProviderConfig(api_key=SecretStr(KEYS[provider]), base_url=base_url, options={})
        adapter = registry.create(provider, config)
        request = ProviderRequest(
            prompt="a lighthouse", model=MODELS[provider], size="1K", timeout_s=5.0
        )
        try:
            with pytest.raises(ImageGateError) as info:
                await adapter.generate(request)
        finally:
            await adapter.aclose()
    assert paths_to(KEYS[provider], info.value) == []

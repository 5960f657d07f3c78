"""``imagegate serve``: run the gateway until SIGTERM or SIGINT, then drain.

    imagegate serve --config gateway.toml [--host 127.0.0.1] [--port 8080]
    imagegate serve keys add NAME      a new key, printed once, and the line for the config

On SIGTERM the gateway stops accepting connections, ``/readyz`` answers 503 (so a load
balancer stops sending), and requests in flight get ``grace_s`` to finish before they
are cancelled. When prometheus_client, the OpenTelemetry SDK and its Prometheus exporter
are installed and no meter provider is set, ``/metrics`` gets imagegate's metrics.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

from imagegate.errors import ConfigurationError
from imagegate.gateway._app import create_app
from imagegate.gateway._auth import hash_key, new_key
from imagegate.gateway._config import GatewaySettings, load_config
from imagegate.gateway._gateway import Gateway
from imagegate.state import RedisState

__all__ = ["add_serve_command", "serve", "shared_state"]


async def serve(
    gateway: Gateway,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    stop: asyncio.Event,
    started: Callable[[int], Awaitable[None] | None] | None = None,
) -> None:
    """Answer for ``gateway`` (already open) on ``host:port`` until ``stop`` is set, then
    drain: in-flight requests get ``grace_s`` to finish.

    Args:
        gateway: What answers.
        host: The address to listen on.
        port: The port (0: any free one).
        stop: Set it to shut down.
        started: Called with the bound port once listening.
    """
    grace_s = gateway.config.gateway.grace_s
    runner = web.AppRunner(
        create_app(gateway), access_log=None, handle_signals=False, shutdown_timeout=grace_s
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        if started is not None:
            bound = runner.addresses[0][1] if runner.addresses else port
            outcome = started(bound)
            if outcome is not None:
                await outcome
        await stop.wait()
        gateway.draining = True
    finally:
        await runner.cleanup()


def _metrics_bridge() -> None:
    """Send imagegate's OpenTelemetry metrics to prometheus_client, when all of it is
    installed and the process has no meter provider yet."""
    try:
        from opentelemetry import metrics
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from opentelemetry.sdk.metrics import MeterProvider
    except ImportError:
        return
    if not isinstance(metrics.get_meter_provider(), MeterProvider):
        metrics.set_meter_provider(MeterProvider(metric_readers=[PrometheusMetricReader()]))


def shared_state(settings: GatewaySettings) -> RedisState | None:
    """The `RedisState` that ``redis_url_env`` names, or None when it names none.

    Raises:
        ConfigurationError: the variable is not set, or the redis client is missing.
    """
    if settings.redis_url_env is None:
        return None
    url = os.environ.get(settings.redis_url_env)
    if not url:
        raise ConfigurationError(
            f"gateway.redis_url_env names {settings.redis_url_env}, which is not set"
        )
    try:
        return RedisState(url, prefix=settings.redis_prefix)
    except ImportError:
        raise ConfigurationError(
            "gateway.redis_url_env needs the redis client: pip install 'imagegate[redis]'"
        ) from None


async def _serve_forever(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    state = shared_state(config.gateway)
    _metrics_bridge()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signum, stop.set)

    def listening(port: int) -> None:
        print(f"imagegate gateway on http://{args.host}:{port}", file=sys.stderr, flush=True)

    try:
        async with Gateway(config, state=state) as gateway:
            await serve(gateway, host=args.host, port=args.port, stop=stop, started=listening)
    finally:
        if state is not None:
            await state.aclose()
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    if args.serve_command == "keys":
        return _keys_add(args.name)
    if args.config is None:
        print("imagegate serve: --config is required", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_serve_forever(args))
    except ConfigurationError as exc:
        print(f"imagegate serve: {exc}", file=sys.stderr)
        return 1


def _keys_add(name: str) -> int:
    if not name.replace("-", "").replace("_", "").isalnum():
        print("imagegate serve keys add: NAME takes letters, digits, - and _", file=sys.stderr)
        return 2
    key = new_key()
    print(f"key for {name} (shown once, keep it secret): {key}")
    print("add under [gateway.clients] (rpm and budget_usd are optional):")
    print(f'{name} = {{ key_sha256 = "{hash_key(key)}" }}')
    return 0


def add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``imagegate serve --config FILE [--host H] [--port P]`` and
    ``imagegate serve keys add NAME``."""
    parser = commands.add_parser(
        "serve", help="an OpenAI-compatible Images API in front of imagegate's routers"
    )
    parser.add_argument(
        "--config", type=Path, default=None, help="a TOML file: the router's and [gateway]"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on")
    sub = parser.add_subparsers(dest="serve_command")
    keys = sub.add_parser("keys", help="client keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    add = keys_sub.add_parser("add", help="print a new key and its config line")
    add.add_argument("name", help="the client's name")
    parser.set_defaults(func=_cmd_serve)

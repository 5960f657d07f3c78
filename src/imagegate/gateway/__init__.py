"""``imagegate serve``: OpenAI's Images API in front of imagegate's routers.

Clients that speak OpenAI's Images API (the official Python and Node SDKs, any HTTP
client) get imagegate's failover, size ladder, quotas and budgets by pointing their
``base_url`` at the gateway (docs/gateway.md)::

    config = load_config("gateway.toml")
    async with Gateway(config) as gateway:
        await serve(gateway, host="0.0.0.0", port=8080, stop=stop_event)
"""

from imagegate.gateway._app import create_app
from imagegate.gateway._auth import KeyRing, hash_key, new_key
from imagegate.gateway._config import ClientSettings, GatewayConfig, GatewaySettings, load_config
from imagegate.gateway._gateway import GATEWAY_KEY, ClientLimits, Gateway
from imagegate.gateway._serve import add_serve_command, serve, shared_state

__all__ = [
    "GATEWAY_KEY",
    "ClientLimits",
    "ClientSettings",
    "Gateway",
    "GatewayConfig",
    "GatewaySettings",
    "KeyRing",
    "add_serve_command",
    "create_app",
    "hash_key",
    "load_config",
    "new_key",
    "serve",
    "shared_state",
]

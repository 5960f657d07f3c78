"""`Gateway`: the routers of every model group, the client keys and their limits.

One `Router` per public model name, each on the routes the group names, all on one
state backend: with a `RedisState` every replica shares the routers' breakers, rate
limits and budget, and each client's limits. A client's ``rpm`` is a `RateLimiter`
(key ``gateway-client:NAME``, a burst of ``rpm``) and its ``budget_usd`` a `CostLedger`
(key ``gateway-client:NAME``) on that backend: a request reserves the dearest list price
its group could charge at the size asked, and settles with what it cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

from aiohttp import web

from imagegate._router import Router
from imagegate.errors import BudgetExceeded
from imagegate.gateway._auth import KeyRing
from imagegate.gateway._config import GatewayConfig
from imagegate.resilience.clock import Clock, LoopClock
from imagegate.resilience.ledger import CostLedger, Reservation
from imagegate.resilience.ratelimit import RateLimit, RateLimiter
from imagegate.state import MemoryState, StateBackend

__all__ = ["GATEWAY_KEY", "ClientLimits", "Gateway"]

# A reservation of at least this much, so a client whose spend sits exactly at its cap
# is refused even when its group's prices are unknown (an estimate of 0).
_MIN_ESTIMATE_USD: Final = 1e-6


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """One client's shared limits.

    Attributes:
        name: The client's name.
        limiter: Its ``rpm`` (None: none).
        ledger: Its ``budget_usd`` (None: none).
    """

    name: str
    limiter: RateLimiter | None
    ledger: CostLedger | None


class Gateway:
    """The routers and clients an ``imagegate serve`` process answers with.

    Args:
        config: What `load_config` read.
        state: Where routers and client limits keep shared state (a `RedisState` for
            replicas); default: the configuration's ``state``, else in memory. It is the
            caller's to close.
        clock: What the clients' limits count on (a client's ``rpm`` refills with it);
            default: the event loop's clock, so a client's minute is a real one whatever
            clock the routers run on (a simulation's scaled clock included). Tests pass
            a `FakeClock`.

    Use as an async context manager (it opens and closes every router);
    `imagegate.gateway.create_app` puts it behind HTTP.
    """

    __slots__ = ("_open", "clients", "config", "draining", "keys", "routers", "state")

    def __init__(
        self,
        config: GatewayConfig,
        *,
        state: StateBackend | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = config
        settings = config.router
        self.state: StateBackend = state or settings.state or MemoryState()
        arguments = {**settings.arguments(), "state": self.state}
        by_name = {route.name: route for route in settings.routes}
        self.routers: dict[str, Router] = {
            model: Router(**{**arguments, "routes": [by_name[name] for name in names]})
            for model, names in config.gateway.models.items()
        }
        if clock is None:  # a real minute, whatever clock the routers run on
            clock = LoopClock()
        clients = config.gateway.clients
        self.keys = KeyRing({name: client.key_sha256 for name, client in clients.items()})
        self.clients: dict[str, ClientLimits] = {}
        for name, client in clients.items():
            key = f"gateway-client:{name}"
            limiter = None
            if client.rpm is not None:
                limit = RateLimit(rpm=client.rpm, burst=client.rpm)
                limiter = RateLimiter(key, limit, clock=clock, backend=self.state)
            ledger = None
            if client.budget_usd is not None:
                ledger = CostLedger(
                    limit_usd=client.budget_usd, key=key, clock=clock, backend=self.state
                )
            self.clients[name] = ClientLimits(name, limiter, ledger)
        self.draining = False
        self._open = False

    @property
    def open(self) -> bool:
        """Whether every router is open."""
        return self._open

    async def __aenter__(self) -> Gateway:
        try:
            for router in self.routers.values():
                await router.open()
        except BaseException:
            await self.aclose()
            raise
        self._open = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close every router (the state backend is the caller's)."""
        self._open = False
        for router in self.routers.values():
            await router.aclose()

    async def admit(self, client: str) -> float | None:
        """Book one request on ``client``'s rpm: None when it may go, else the seconds
        until it could (a Retry-After)."""
        limits = self.clients.get(client)
        if limits is None or limits.limiter is None:
            return None
        if await limits.limiter.reserve(1, max_wait_s=0.0) is not None:
            return None
        wait = limits.limiter.estimate_wait_s(1)
        return 60.0 if wait is None or not math.isfinite(wait) else wait

    async def reserve(
        self, client: str, model: str, arguments: dict[str, Any]
    ) -> Reservation | None:
        """Reserve the dearest price ``model``'s group could charge on ``client``'s budget.

        Raises:
            BudgetExceeded: the client's budget would be crossed.
        """
        limits = self.clients.get(client)
        if limits is None or limits.ledger is None:
            return None
        estimate = max(_MIN_ESTIMATE_USD, self.estimate_usd(model, arguments))
        return await limits.ledger.reserve(estimate, route=f"gateway:{model}")

    def estimate_usd(self, model: str, arguments: dict[str, Any]) -> float:
        """The dearest list price of ``model``'s routes at the size asked, times ``n``."""
        size, n = arguments.get("size", "1K"), arguments.get("n", 1)
        prices = [
            capability.price_usd.get(size, 0.0)
            for capability in self.routers[model].engine.capabilities
        ]
        return float(max(prices, default=0.0) * n)

    async def settle(
        self, client: str, reservation: Reservation | None, cost_usd: float, *, attempted: bool
    ) -> None:
        """Replace a reservation by what the request cost (taken back when nothing ran)."""
        limits = self.clients.get(client)
        if reservation is None or limits is None or limits.ledger is None:
            return
        if not attempted:
            await limits.ledger.unreserve(reservation)
            return
        await limits.ledger.settle(reservation, max(0.0, cost_usd), "billed")

    def budget_message(self, client: str, exc: BudgetExceeded) -> str:
        """Why ``client``'s request was refused, without naming other clients."""
        return (
            f"client {client!r} has spent its budget: ${exc.spent_usd:.4f} of "
            f"${exc.limit_usd:.4f} spent or reserved"
        )

    def degraded(self) -> bool:
        """Whether the state backend is unreachable (working on local state)."""
        return bool(getattr(self.state, "degraded", False))

    def __repr__(self) -> str:
        state = "open" if self._open else "closed"
        return f"Gateway({state}, models={list(self.routers)}, clients={len(self.clients)})"


GATEWAY_KEY: Final = web.AppKey("gateway", Gateway)
"""Where an application built by `create_app` keeps its `Gateway`."""

"""Shared market data: one markets load per process, one price fetch per TTL for all users."""

from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import Any

from bot.domain.market import Market
from bot.errors import TemporaryExchangeError

log = logging.getLogger(__name__)

MARKETS_TTL_SECONDS = 3600.0


def market_from_ccxt(raw: dict[str, Any]) -> Market:
    """ccxt's unified market (TICK_SIZE precision mode on Binance) as our Market."""

    def dec(value: Any) -> Decimal:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)

    def opt(value: Any) -> Decimal | None:
        return Decimal(str(value)) if value not in (None, "", 0) else None

    precision = raw.get("precision") or {}
    limits = raw.get("limits") or {}
    amount = limits.get("amount") or {}
    cost = limits.get("cost") or {}
    market_limits = limits.get("market") or {}
    return Market(
        symbol=raw["symbol"],
        base=raw["base"],
        quote=raw["quote"],
        amount_step=dec(precision.get("amount")),
        price_step=dec(precision.get("price")),
        min_amount=dec(amount.get("min")),
        max_amount=opt(amount.get("max")),
        market_max_amount=opt(market_limits.get("max")),
        min_cost=dec(cost.get("min")),
        active=raw.get("active") is not False,
        spot=bool(raw.get("spot", True)),
        market_min_amount=dec(market_limits.get("min")),
    )


class PriceCache:
    """Last prices for every symbol, shared for a TTL; concurrent callers share one request."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._prices: dict[str, Decimal] = {}
        self._fetched_at = -1e9
        self._inflight: asyncio.Future[dict[str, Decimal]] | None = None

    async def get(self, fetch: Any) -> dict[str, Decimal]:
        if time.monotonic() - self._fetched_at < self.ttl:
            return self._prices
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        loop = asyncio.get_running_loop()
        self._inflight = loop.create_future()
        future = self._inflight
        try:
            prices = await fetch()
        except BaseException as error:
            self._inflight = None
            if not future.done():
                # The fetching caller was cancelled (a shutdown, a user gone): the others were
                # not, so they get a temporary failure rather than a cancellation of their own.
                shared = (
                    TemporaryExchangeError("price request cancelled")
                    if isinstance(error, asyncio.CancelledError)
                    else error
                )
                future.set_exception(shared)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        self._prices = prices
        self._fetched_at = time.monotonic()
        self._inflight = None
        future.set_result(prices)
        return prices

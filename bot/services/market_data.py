"""Shared market data: one markets load per process, one price fetch per TTL for all users."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from decimal import Decimal
from typing import Any

from bot.domain.market import Market
from bot.errors import TemporaryExchangeError

log = logging.getLogger(__name__)

BINANCE_WEIGHT_PER_MINUTE = 6000
HEADROOM = Decimal("0.8")  # stay below the IP budget: other tools may share the address
MARKETS_TTL_SECONDS = 3600.0

# Request weights (Binance spot REST); unknown calls count 1.
WEIGHTS = {
    "load_markets": 20,
    "public_get_exchangeinfo": 20,
    "fetch_last_prices": 4,
    "public_get_ticker_price": 4,
    "fetch_tickers": 80,
    "fetch_balance": 20,
    "private_get_account": 20,
    "create_order": 1,
    "create_market_buy_order_with_cost": 1,
    "fetch_order": 4,
    "fetch_open_orders": 6,
    "sapi_get_account_apirestrictions": 1,
}


class WeightLimiter:
    """Keeps every client of one exchange under its per-IP weight budget, honouring Retry-After.

    A sliding one-minute window of the weight we sent, corrected upward by the exchange's own
    `X-MBX-USED-WEIGHT-1M` count, and a pause shared by all callers after a 429/418.
    """

    def __init__(self, budget_per_minute: int = BINANCE_WEIGHT_PER_MINUTE) -> None:
        self.budget = int(Decimal(budget_per_minute) * HEADROOM)
        self._window: deque[tuple[float, int]] = deque()
        self._used = 0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()
        self.total_weight = 0
        self.requests = 0

    def _expire(self, now: float) -> None:
        while self._window and now - self._window[0][0] >= 60.0:
            self._used -= self._window.popleft()[1]

    async def acquire(self, weight: int) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self._paused_until:
                    await asyncio.sleep(self._paused_until - now)
                    continue
                self._expire(now)
                if self._used + weight <= self.budget or not self._window:
                    self._window.append((now, weight))
                    self._used += weight
                    self.total_weight += weight
                    self.requests += 1
                    return
                await asyncio.sleep(max(0.01, 60.0 - (now - self._window[0][0])))

    def observe_used_weight(self, used: int | None) -> None:
        """The exchange's count of our weight this minute; trust it when it is higher than ours."""
        if used is None:
            return
        self._expire(time.monotonic())
        if used > self._used:
            extra = used - self._used
            self._window.append((time.monotonic(), extra))
            self._used += extra

    def pause(self, seconds: float) -> None:
        """Everyone waits (the exchange answered 429/418 with Retry-After)."""
        self._paused_until = max(self._paused_until, time.monotonic() + max(0.0, seconds))

    @property
    def used(self) -> int:
        self._expire(time.monotonic())
        return self._used


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

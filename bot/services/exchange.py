"""The exchange gateway: ccxt behind one seam, a shared market-data hub, per-user clients."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import certifi

from bot.config import Settings
from bot.domain.market import Market
from bot.errors import ClockSkew, ExchangeError, OutcomeUnknown, RateLimited
from bot.services.budgets import ExchangeBudgets
from bot.services.client_pool import ClientPool, fingerprint
from bot.services.exchange_account import PrivateAccount
from bot.services.exchange_errors import annotated_class, map_error
from bot.services.market_data import MARKETS_TTL_SECONDS, PriceCache, market_from_ccxt
from bot.services.venue_budgets import budgets_for
from bot.services.venues import venue

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
TIME_SYNC_SECONDS = 1800.0  # re-read the exchange's clock this often (and after every -1021)
CLOCK_WARNING_MS = 1000  # our clock this far off the exchange's is worth an operator's look
_HOST = re.compile(r"^https?://[^/]+")
BYBIT_BAN_SECONDS = 600.0  # Bybit's 403 "access too frequent": an IP ban of 10 minutes or more


def rewrite_api_urls(urls: Any, base_url: str) -> Any:
    """Point every `urls['api']` entry at `base_url`, keeping each path."""
    base = base_url.rstrip("/")
    if isinstance(urls, str):
        return _HOST.sub(base, urls)
    if isinstance(urls, dict):
        return {key: rewrite_api_urls(value, base_url) for key, value in urls.items()}
    return urls


class ExchangeGateway:
    """Client construction and the one seam every ccxt call passes through."""

    def __init__(self, exchange_id: str, settings: Settings, budgets: ExchangeBudgets) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ValueError(f"unknown exchange {exchange_id}")
        self.exchange_id = exchange_id
        self.settings = settings
        self.budgets = budgets
        self._session: aiohttp.ClientSession | None = None
        # ccxt builds a fresh SSL context (reading the CA bundle, ~20 ms) for every client;
        # one shared context makes a per-user client cheap.
        self._ssl = ssl.create_default_context(cafile=certifi.where())
        # Set by the hub: re-read the exchange's clock after a -1021 timestamp refusal.
        self.on_clock_skew: Callable[[], Awaitable[None]] | None = None

    def session(self) -> aiohttp.ClientSession:
        """One HTTP session shared by every client of this exchange (connections are pooled)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=100, ssl=self._ssl)
            )
        return self._session

    def client(self, credentials: dict[str, str] | None = None) -> Any:
        config: dict[str, Any] = {
            "enableRateLimit": self.settings.exchange_rate_limit,
            "timeout": int(self.settings.exchange_timeout_seconds * 1000),
            "session": self.session(),
            "ssl_context": self._ssl,
            # ccxt's close() sleeps 250 ms to let a session it owns shut its connections; the
            # session here is shared and closed by the hub, so a client closes at once.
            "timeout_on_exit": 0,
        }
        spec = venue(self.exchange_id)
        if spec.options:
            config["options"] = dict(spec.options)
        config.update(credentials or {})
        client = annotated_class(self.exchange_id)(config)
        base_url = getattr(self.settings, spec.url_setting, None) if spec.url_setting else None
        if base_url:
            client.urls["api"] = rewrite_api_urls(client.urls["api"], base_url)
        return client

    async def call(
        self,
        client: Any,
        method: str,
        *args: Any,
        retry: bool = True,
        account: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call `client.method` within the shared budgets (`account`: whose order count it
        spends), mapping errors; temporary ones retried with backoff and jitter when `retry`
        (reads). A -1021 timestamp refusal was never processed, so it is retried once after
        re-reading the exchange's clock, orders included."""
        attempts = MAX_ATTEMPTS if retry else 1
        clock_synced = False
        attempt = 0
        while True:
            attempt += 1
            await self.budgets.acquire(method, account)
            try:
                result = await getattr(client, method)(*args, **kwargs)
                if isinstance(result, str | bytes):  # not JSON: a proxy's page, a cut body
                    raise OutcomeUnknown(f"{self.exchange_id} {method}: the answer was not JSON")
            except Exception as error:
                mapped = map_error(error, self.exchange_id)
                self._observe(client, method, account, mapped)
                if isinstance(mapped, ClockSkew) and not clock_synced and self.on_clock_skew:
                    clock_synced = True
                    await self.on_clock_skew()
                    attempt -= 1
                    continue
                if not mapped.temporary or attempt >= attempts:
                    raise mapped from error
                delay = BACKOFF_SECONDS * 2 ** (attempt - 1) * (1 + random.random())  # noqa: S311
                if isinstance(mapped, RateLimited) and mapped.retry_after:
                    delay = max(delay, mapped.retry_after)
                log.info(
                    "%s %s: %s, retry %d in %.1fs",
                    self.exchange_id,
                    method,
                    type(mapped).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                continue
            self._observe(client, method, account, None)
            return result

    def _observe(
        self, client: Any, method: str, account: str | None, error: ExchangeError | None
    ) -> None:
        headers = getattr(client, "last_response_headers", None) or {}
        lowered = {str(k).lower(): v for k, v in headers.items()}
        self.budgets.observe(method, account, lowered)
        if isinstance(error, RateLimited):
            retry_after = lowered.get("retry-after")
            seconds = float(retry_after) if retry_after and str(retry_after).isdecimal() else 1.0
            if error.banned and self.exchange_id == "bybit" and not retry_after:
                seconds = BYBIT_BAN_SECONDS  # "wait for at least 10 minutes" (rate-limit docs)
            error.retry_after = seconds
            if error.banned:
                log.error(
                    "%s banned this IP (418) for %.0f s: every request waits",
                    self.exchange_id,
                    seconds,
                )
            # Bybit's 403 bans the whole IP: every request waits, not only this endpoint's.
            whole_ip = error.banned and self.exchange_id == "bybit"
            self.budgets.pause(method, account, seconds, banned=whole_ip)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class MarketDataHub:
    """Markets and prices of one exchange, shared by every user of the process."""

    def __init__(self, exchange_id: str, settings: Settings) -> None:
        self.exchange_id = exchange_id
        self.budgets = budgets_for(exchange_id)
        self.gateway = ExchangeGateway(exchange_id, settings, self.budgets)
        self._public: Any = None
        self._markets_client: Any = None
        self._markets: dict[str, Market] = {}
        self._raw_markets: dict[str, Any] = {}
        self._loaded_at = -1e9
        self._markets_lock = asyncio.Lock()
        self._prices = PriceCache(settings.price_ttl_seconds)
        self.pool = ClientPool()
        self.time_difference_ms = 0  # our clock minus the exchange's (ccxt's timeDifference)
        self._time_synced_at = -1e9
        self._time_lock = asyncio.Lock()
        self.gateway.on_clock_skew = self.sync_time

    def _public_client(self) -> Any:
        if self._public is None:
            self._public = self.gateway.client()
        return self._public

    async def markets(self) -> dict[str, Market]:
        """Active spot markets, loaded once and refreshed hourly (one exchangeInfo each time)."""
        loop_time = asyncio.get_running_loop().time()
        if self._markets and loop_time - self._loaded_at < MARKETS_TTL_SECONDS:
            return self._markets
        async with self._markets_lock:
            if self._markets and loop_time - self._loaded_at < MARKETS_TTL_SECONDS:
                return self._markets
            # Its own client, so the exchangeInfo body (and its rateLimits) is the last one it
            # saw: the price requests of the public client cannot come in between.
            if self._markets_client is None:
                self._markets_client = self.gateway.client()
                self._markets_client.enableLastJsonResponse = True
            client = self._markets_client
            raw = await self.gateway.call(client, "load_markets", True)
            info = getattr(client, "last_json_response", None)
            if isinstance(info, dict) and isinstance(info.get("rateLimits"), list):
                self.budgets.configure(info["rateLimits"])
            self._raw_markets = dict(raw)
            self._markets = {
                symbol: market_from_ccxt(market)
                for symbol, market in raw.items()
                if market.get("spot") and market.get("active") is not False
            }
            self._loaded_at = asyncio.get_running_loop().time()
            self._public_client().set_markets(self._raw_markets)  # prices need no second load
            for pooled in self.pool.clients():
                pooled.set_markets(self._raw_markets)
        if time.monotonic() - self._time_synced_at >= TIME_SYNC_SECONDS:
            await self.sync_time()
        return self._markets

    async def sync_time(self) -> None:
        """Read the exchange's clock (one request, weight 1) and hand the offset to every
        client, so signed requests carry a timestamp the exchange accepts (-1021 otherwise)."""
        started = time.monotonic()
        async with self._time_lock:
            if self._time_synced_at >= started:
                return  # someone synced while we waited
            client = self._public_client()
            try:
                await self.gateway.call(client, "load_time_difference")
            except ExchangeError as error:
                log.warning("%s clock not read: %s", self.exchange_id, type(error).__name__)
                return
            self.time_difference_ms = int(client.options.get("timeDifference") or 0)
            self._time_synced_at = time.monotonic()
            for pooled in self.pool.clients():
                pooled.options["timeDifference"] = self.time_difference_ms
        if abs(self.time_difference_ms) > CLOCK_WARNING_MS:
            log.warning(
                "this host's clock is %d ms off %s's; signed requests are corrected, but fix "
                "the host's time sync (NTP)",
                self.time_difference_ms,
                self.exchange_id,
            )

    async def prices(self) -> dict[str, Decimal]:
        """Last prices of every symbol from one request, shared for the TTL."""
        await self.markets()

        spec = venue(self.exchange_id)

        async def fetch() -> dict[str, Decimal]:
            # Binance: ticker/price for every symbol; OKX and Bybit: every spot ticker.
            raw = await self.gateway.call(self._public_client(), spec.price_method)
            return {
                symbol: Decimal(str(entry[spec.price_key]))
                for symbol, entry in raw.items()
                if entry and entry.get(spec.price_key) and symbol in self._markets
            }

        return await self._prices.get(fetch)

    @asynccontextmanager
    async def private(
        self, api_key: str, secret: str, passphrase: str | None = None
    ) -> AsyncIterator[PrivateAccount]:
        """A user's account through a pooled client (leased: never closed while in use) that
        reuses the shared markets."""
        await self.markets()

        def make() -> Any:
            credentials = {"apiKey": api_key, "secret": secret}
            if passphrase:
                credentials["password"] = passphrase
            client = self.gateway.client(credentials)
            client.set_markets(self._raw_markets)
            client.options["timeDifference"] = self.time_difference_ms
            return client

        async with self.pool.lease(fingerprint(api_key, secret, passphrase), make) as client:
            yield PrivateAccount(
                self.gateway, client, budget_account=fingerprint(api_key, secret)[:16]
            )

    async def forget(self, api_key: str, secret: str, passphrase: str | None = None) -> None:
        """The user's keys were deleted or replaced: drop their client (and the key in it)."""
        await self.pool.forget(fingerprint(api_key, secret, passphrase))

    async def close(self) -> None:
        await self.pool.close()
        for public in (self._public, self._markets_client):
            if public is not None:
                await public.close()
        self._public = self._markets_client = None
        await self.gateway.close()


class ExchangeHubs:
    """One hub per exchange id, created on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._hubs: dict[str, MarketDataHub] = {}

    def get(self, exchange_id: str) -> MarketDataHub:
        hub = self._hubs.get(exchange_id)
        if hub is None:
            hub = self._hubs[exchange_id] = MarketDataHub(exchange_id, self.settings)
        return hub

    async def forget(
        self, exchange_id: str, api_key: str, secret: str, passphrase: str | None = None
    ) -> None:
        """Close and drop the pooled client of these credentials (keys deleted or replaced)."""
        hub = self._hubs.get(exchange_id)
        if hub is not None:
            await hub.forget(api_key, secret, passphrase)

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
        self._hubs.clear()


# The key audit lives in key_audit; it is imported from here by older callers.
from bot.services.key_audit import KeyCheck, validate_credentials  # noqa: E402

__all__ = ["ExchangeHubs", "KeyCheck", "MarketDataHub", "map_error", "validate_credentials"]

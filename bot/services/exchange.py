"""The exchange gateway: ccxt behind one seam, a shared market-data hub, per-user clients."""

from __future__ import annotations

import asyncio
import logging
import random
import re
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import certifi

from bot.config import Settings
from bot.domain.market import Market
from bot.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    PermissionDenied,
    RateLimited,
    TemporaryExchangeError,
)
from bot.services.client_pool import ClientPool, fingerprint
from bot.services.market_data import (
    MARKETS_TTL_SECONDS,
    WEIGHTS,
    PriceCache,
    WeightLimiter,
    market_from_ccxt,
)

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKOFF_SECONDS = 0.5
_HOST = re.compile(r"^https?://[^/]+")

BINANCE_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchMargins": False,
    "fetchCurrencies": False,
}


@dataclass(frozen=True, slots=True)
class Balances:
    free: dict[str, Decimal]
    total: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class OrderResult:
    client_order_id: str
    exchange_order_id: str | None
    symbol: str
    side: str
    status: str  # closed | open | canceled | expired | rejected
    amount: Decimal
    filled: Decimal
    cost: Decimal
    average: Decimal | None
    fee_cost: Decimal | None  # None: the exchange did not say (an order looked up, not placed)
    fee_currency: str | None


@dataclass(frozen=True, slots=True)
class KeyCheck:
    can_read: bool
    can_trade_spot: bool
    can_withdraw: bool
    can_transfer: bool
    ip_restricted: bool | None
    permissions: dict[str, bool] = field(default_factory=dict)
    sandbox_skipped: bool = False


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _safe_text(error: BaseException) -> str:
    """An exception's gist without URLs, query strings or anything that could hold a secret."""
    text = str(error).split(" GET ")[0].split(" POST ")[0].split("?")[0]
    return re.sub(r"https?://\S+", "<url>", text)[:200]


def map_error(error: Exception) -> ExchangeError:
    """ccxt's exception tree onto ours; the order of checks matters (subclasses first)."""
    text = _safe_text(error)
    if '"code":-2015' in str(error).replace(" ", ""):
        # ccxt reads -2015 after an earlier success as a temporary ban; Binance means the key
        # is invalid, IP-blocked or lacks the permission, which no retry fixes.
        return AuthenticationFailed(text)
    if isinstance(error, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
        return RateLimited(text)
    if isinstance(error, ccxt.PermissionDenied):
        return PermissionDenied(text)
    if isinstance(error, ccxt.AuthenticationError):
        return AuthenticationFailed(text)
    if isinstance(error, ccxt.InsufficientFunds):
        return InsufficientFunds(text)
    if isinstance(error, ccxt.DuplicateOrderId) or "Duplicate order" in str(error):
        return DuplicateOrder(text)
    if isinstance(error, ccxt.OrderNotFound):
        return OrderNotFound(text)
    if isinstance(error, ccxt.InvalidOrder | ccxt.BadSymbol):
        return InvalidOrder(text)
    if isinstance(error, ccxt.BadRequest) and "Signature" in str(error):
        return AuthenticationFailed(text)
    if isinstance(error, ccxt.NetworkError):  # timeouts, 5xx, unreachable
        return TemporaryExchangeError(text)
    if isinstance(error, ccxt.ExchangeNotAvailable | ccxt.OnMaintenance):
        return TemporaryExchangeError(text)
    return ExchangeError(text)


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

    def __init__(self, exchange_id: str, settings: Settings, limiter: WeightLimiter) -> None:
        if exchange_id not in ccxt.exchanges:
            raise ValueError(f"unknown exchange {exchange_id}")
        self.exchange_id = exchange_id
        self.settings = settings
        self.limiter = limiter
        self._session: aiohttp.ClientSession | None = None
        # ccxt builds a fresh SSL context (reading the CA bundle, ~20 ms) for every client;
        # one shared context makes a per-user client cheap.
        self._ssl = ssl.create_default_context(cafile=certifi.where())

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
        }
        if self.exchange_id == "binance":
            config["options"] = dict(BINANCE_OPTIONS)
        config.update(credentials or {})
        client = getattr(ccxt, self.exchange_id)(config)
        if self.exchange_id == "binance":
            client.urls["api"] = rewrite_api_urls(client.urls["api"], self.settings.binance_api_url)
        return client

    async def call(
        self,
        client: Any,
        method: str,
        *args: Any,
        retry: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Call `client.method`, mapping errors; temporary ones retried with backoff and jitter."""
        attempts = MAX_ATTEMPTS if retry else 1
        for attempt in range(1, attempts + 1):
            await self.limiter.acquire(WEIGHTS.get(method, 1))
            try:
                result = await getattr(client, method)(*args, **kwargs)
            except Exception as error:
                mapped = map_error(error)
                self._observe(client, mapped)
                if not mapped.temporary or attempt == attempts:
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
            self._observe(client, None)
            return result
        raise TemporaryExchangeError("unreachable")  # pragma: no cover

    def _observe(self, client: Any, error: ExchangeError | None) -> None:
        headers = getattr(client, "last_response_headers", None) or {}
        lowered = {str(k).lower(): v for k, v in headers.items()}
        used = lowered.get("x-mbx-used-weight-1m")
        if used is not None and str(used).isdigit():
            self.limiter.observe_used_weight(int(used))
        if isinstance(error, RateLimited):
            retry_after = lowered.get("retry-after")
            seconds = float(retry_after) if retry_after and str(retry_after).isdigit() else 1.0
            error.retry_after = seconds
            self.limiter.pause(seconds)

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


class PrivateAccount:
    """One user's account through a client that reuses the hub's markets."""

    def __init__(self, gateway: ExchangeGateway, client: Any) -> None:
        self._gateway = gateway
        self._client = client

    async def fetch_balances(self) -> Balances:
        raw = await self._gateway.call(self._client, "fetch_balance")
        free = {a: _dec(v) for a, v in (raw.get("free") or {}).items() if v}
        total = {a: _dec(v) for a, v in (raw.get("total") or {}).items() if v}
        return Balances(free, total)

    async def market_sell(self, symbol: str, amount: Decimal, client_order_id: str) -> OrderResult:
        # No price: ccxt would turn amount*price into quoteOrderQty, even for sells.
        return await self._place(
            client_order_id,
            symbol,
            "create_order",
            symbol,
            "market",
            "sell",
            float(amount),
        )

    async def market_buy_cost(
        self, symbol: str, cost: Decimal, client_order_id: str
    ) -> OrderResult:
        return await self._place(
            client_order_id,
            symbol,
            "create_market_buy_order_with_cost",
            symbol,
            float(cost),
        )

    async def _place(self, cid: str, symbol: str, method: str, *args: Any) -> OrderResult:
        """Place once; if the answer is lost, find out what happened instead of resending.

        Resent (with the same client order id) only when the exchange confirms it never got
        the order; if the truth cannot be established the TemporaryExchangeError propagates
        and reconciliation looks the order up later.
        """
        params = {"newClientOrderId": cid}
        for _attempt in range(MAX_ATTEMPTS):
            try:
                raw = await self._gateway.call(
                    self._client, method, *args, params=params, retry=False
                )
                return _order(raw, cid, symbol)
            except DuplicateOrder:
                found = await self.fetch_order(symbol, cid)
                if found is not None:
                    return found
                raise
            except TemporaryExchangeError:
                found = await self.fetch_order(symbol, cid)  # raises if it cannot tell
                if found is not None:
                    return found
                # Confirmed absent: sending the same client order id again is safe.
        raise TemporaryExchangeError("order could not be placed")

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None when the exchange confirms there is none."""
        try:
            raw = await self._gateway.call(
                self._client,
                "fetch_order",
                None,
                symbol,
                params={"origClientOrderId": client_order_id},
            )
        except OrderNotFound:
            return None
        return _order(raw, client_order_id, symbol)

    async def api_restrictions(self) -> dict[str, Any]:
        result = await self._gateway.call(self._client, "sapi_get_account_apirestrictions")
        return dict(result or {})


def _order(raw: dict[str, Any], cid: str, symbol: str) -> OrderResult:
    fees = raw.get("fees") or ([raw["fee"]] if raw.get("fee") else [])
    currency = next((f.get("currency") for f in fees if f and f.get("currency")), None)
    fee_cost = sum((_dec(f.get("cost")) for f in fees if f), Decimal(0)) if currency else None
    average = raw.get("average")
    return OrderResult(
        client_order_id=raw.get("clientOrderId") or cid,
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        symbol=raw.get("symbol") or symbol,
        side=raw.get("side") or "",
        status=raw.get("status") or "open",
        amount=_dec(raw.get("amount")),
        filled=_dec(raw.get("filled")),
        cost=_dec(raw.get("cost")),
        average=_dec(average) if average else None,
        fee_cost=fee_cost,
        fee_currency=currency,
    )


class MarketDataHub:
    """Markets and prices of one exchange, shared by every user of the process."""

    def __init__(self, exchange_id: str, settings: Settings) -> None:
        self.exchange_id = exchange_id
        self.limiter = WeightLimiter()
        self.gateway = ExchangeGateway(exchange_id, settings, self.limiter)
        self._public: Any = None
        self._markets: dict[str, Market] = {}
        self._raw_markets: dict[str, Any] = {}
        self._loaded_at = -1e9
        self._markets_lock = asyncio.Lock()
        self._prices = PriceCache(settings.price_ttl_seconds)
        self.pool = ClientPool()

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
            client = self._public_client()
            raw = await self.gateway.call(client, "load_markets", True)
            self._raw_markets = dict(raw)
            self._markets = {
                symbol: market_from_ccxt(market)
                for symbol, market in raw.items()
                if market.get("spot") and market.get("active") is not False
            }
            self._loaded_at = asyncio.get_running_loop().time()
            for pooled in self.pool.clients():
                pooled.set_markets(self._raw_markets)
        return self._markets

    async def prices(self) -> dict[str, Decimal]:
        """Last prices of every symbol from one request, shared for the TTL."""
        await self.markets()

        async def fetch() -> dict[str, Decimal]:
            raw = await self.gateway.call(self._public_client(), "fetch_last_prices")
            return {
                symbol: _dec(entry.get("price"))
                for symbol, entry in raw.items()
                if entry and entry.get("price") and symbol in self._markets
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
            return client

        async with self.pool.lease(fingerprint(api_key, secret), make) as client:
            yield PrivateAccount(self.gateway, client)

    async def forget(self, api_key: str, secret: str) -> None:
        """The user's keys were deleted or replaced: drop their client (and the key in it)."""
        await self.pool.forget(fingerprint(api_key, secret))

    async def close(self) -> None:
        await self.pool.close()
        if self._public is not None:
            await self._public.close()
            self._public = None
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

    async def forget(self, exchange_id: str, api_key: str, secret: str) -> None:
        """Close and drop the pooled client of these credentials (keys deleted or replaced)."""
        hub = self._hubs.get(exchange_id)
        if hub is not None:
            await hub.forget(api_key, secret)

    async def close(self) -> None:
        for hub in self._hubs.values():
            await hub.close()
        self._hubs.clear()


REFUSALS = (
    ("enableWithdrawals", True, "withdrawals_enabled"),
    ("enableInternalTransfer", True, "transfer_enabled"),
    ("permitsUniversalTransfer", True, "transfer_enabled"),
    ("enableReading", False, "no_reading"),
    ("enableSpotAndMarginTrading", False, "no_spot_trading"),
)


async def validate_credentials(
    hub: MarketDataHub, api_key: str, secret: str, passphrase: str | None = None
) -> KeyCheck:
    """Prove the key reads balances and may trade spot; refuse keys that can move funds out."""
    async with hub.private(api_key, secret, passphrase) as account:
        await account.fetch_balances()  # a wrong key or secret fails here
        if hub.exchange_id != "binance":
            return KeyCheck(True, True, False, False, None, {}, sandbox_skipped=True)
        restrictions = await account.api_restrictions()
    flags = {name: bool(value) for name, value in restrictions.items() if isinstance(value, bool)}
    for name, refused_when, reason in REFUSALS:
        if bool(restrictions.get(name, False)) == refused_when:
            error = PermissionDenied(f"key refused: {reason}")
            error.reason = reason
            raise error
    return KeyCheck(
        can_read=flags.get("enableReading", False),
        can_trade_spot=flags.get("enableSpotAndMarginTrading", False),
        can_withdraw=flags.get("enableWithdrawals", False),
        can_transfer=flags.get("enableInternalTransfer", False)
        or flags.get("permitsUniversalTransfer", False),
        ip_restricted=bool(restrictions.get("ipRestrict"))
        if "ipRestrict" in restrictions
        else None,
        permissions=flags,
    )

"""Market caps for the index: CoinGecko without a key, CoinMarketCap with the user's key."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from decimal import Decimal
from typing import Any

import aiohttp

from bot.config import Settings
from bot.domain.market import MarketCapEntry
from bot.domain.strategies import STABLECOINS
from bot.errors import AuthenticationFailed, RateLimited, TemporaryExchangeError

log = logging.getLogger(__name__)

DEFAULT_TTL = 300.0
STALE_LIMIT = 3600.0  # a failed refresh may serve data up to an hour old
TIMEOUT = aiohttp.ClientTimeout(total=10)


class MarketCapService:
    """Cached market-cap rankings; concurrent callers of one source share one request."""

    def __init__(
        self,
        settings: Settings,
        *,
        session: aiohttp.ClientSession | None = None,
        ttl: float = DEFAULT_TTL,
    ) -> None:
        self._settings = settings
        self._session = session
        self._own_session = session is None
        self._ttl = max(ttl, 60.0)
        self._cache: dict[str, tuple[float, list[MarketCapEntry]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
            self._own_session = True
        return self._session

    async def top(
        self, limit: int = 100, *, cmc_api_key: str | None = None
    ) -> list[MarketCapEntry]:
        """Coins by market cap, best first (CoinMarketCap if a key is given, else CoinGecko)."""
        if cmc_api_key:
            key = "cmc:" + hashlib.sha256(cmc_api_key.encode()).hexdigest()[:16]
            entries = await self._cached(key, lambda: self._coinmarketcap(cmc_api_key))
        else:
            entries = await self._cached("coingecko", self._coingecko)
        return entries[:limit]

    async def _cached(self, key: str, fetch: Any) -> list[MarketCapEntry]:
        cached = self._cache.get(key)
        if cached and time.monotonic() - cached[0] < self._ttl:
            return cached[1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            cached = self._cache.get(key)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
            try:
                entries = await fetch()
            except (TemporaryExchangeError, RateLimited):
                if cached and time.monotonic() - cached[0] < STALE_LIMIT:
                    log.warning("market caps (%s) unavailable; serving cached data", key[:3])
                    return cached[1]
                raise
            self._cache[key] = (time.monotonic(), entries)
            return entries

    async def _get(self, url: str, headers: dict[str, str] | None = None) -> Any:
        try:
            async with self._http().get(url, headers=headers, timeout=TIMEOUT) as response:
                if response.status == 429:
                    retry = response.headers.get("Retry-After", "")
                    raise RateLimited(
                        "market-cap source rate limited",
                        retry_after=float(retry) if retry.isdigit() else None,
                    )
                if response.status in (401, 403):
                    raise AuthenticationFailed("CoinMarketCap rejected the API key")
                if response.status >= 400:
                    raise TemporaryExchangeError(f"market-cap source answered {response.status}")
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as error:
            raise TemporaryExchangeError("market-cap source unreachable") from error
        try:
            return json.loads(text, parse_float=Decimal)
        except ValueError as error:
            raise TemporaryExchangeError("market-cap source sent bad JSON") from error

    async def _coingecko(self) -> list[MarketCapEntry]:
        base = self._settings.coingecko_api_url.rstrip("/")
        query = "vs_currency=usd&order=market_cap_desc&per_page=250&page=1"
        coins = await self._get(f"{base}/coins/markets?{query}")
        stable = await self._get(f"{base}/coins/markets?{query}&category=stablecoins")
        stable_ids = {coin.get("id") for coin in stable or []}
        entries = []
        for coin in coins or []:
            cap, rank = coin.get("market_cap"), coin.get("market_cap_rank")
            if not cap or not rank or not coin.get("symbol"):
                continue
            symbol = str(coin["symbol"]).upper()
            entries.append(
                MarketCapEntry(
                    symbol=symbol,
                    market_cap=Decimal(str(cap)),
                    rank=int(rank),
                    is_stablecoin=coin.get("id") in stable_ids or symbol in STABLECOINS,
                )
            )
        return _best_per_symbol(entries)

    async def _coinmarketcap(self, api_key: str) -> list[MarketCapEntry]:
        base = self._settings.coinmarketcap_api_url.rstrip("/")
        payload = await self._get(
            f"{base}/v1/cryptocurrency/listings/latest?limit=250&convert=USD",
            headers={"X-CMC_PRO_API_KEY": api_key, "Accept": "application/json"},
        )
        entries = []
        for coin in (payload or {}).get("data") or []:
            quote = (coin.get("quote") or {}).get("USD") or {}
            cap, rank = quote.get("market_cap"), coin.get("cmc_rank")
            if not cap or not rank or not coin.get("symbol"):
                continue
            symbol = str(coin["symbol"]).upper()
            entries.append(
                MarketCapEntry(
                    symbol=symbol,
                    market_cap=Decimal(str(cap)),
                    rank=int(rank),
                    is_stablecoin="stablecoin" in (coin.get("tags") or []) or symbol in STABLECOINS,
                )
            )
        return _best_per_symbol(entries)

    async def close(self) -> None:
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()


def _best_per_symbol(entries: list[MarketCapEntry]) -> list[MarketCapEntry]:
    """Symbols are not unique across coins: keep the best-ranked one of each."""
    best: dict[str, MarketCapEntry] = {}
    for entry in sorted(entries, key=lambda e: e.rank):
        best.setdefault(entry.symbol, entry)
    return sorted(best.values(), key=lambda e: e.rank)

"""Market-cap rankings from CoinGecko (no key) or CoinMarketCap (the user's key), cached."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import aiohttp

from bot.config import Settings
from bot.domain.market import MarketCapEntry
from bot.domain.strategies import STABLECOINS
from bot.errors import AuthenticationFailed, MarketCapUnavailable, RateLimited

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_TTL = 300.0
MIN_TTL = 60.0  # both providers update about once a minute; asking more often only burns quota
# A refresh that fails may serve data up to this old: market caps move slowly, and an index built
# from an hour-old ranking is still right, whereas failing the whole rebalance is not.
STALE_LIMIT = 3600.0
DEFAULT_TIMEOUT = 10.0
# CoinGecko's largest page; CoinMarketCap is asked for the same depth so both sources agree on
# what `top(limit)` can return, and one cache entry serves every limit.
MAX_LIMIT = 250
MAX_BODY = 8 * 1024 * 1024  # a 250-coin page is ~200 KB; anything far bigger is not a ranking

# Maintained deny-list behind the sources' own stablecoin flags (CoinGecko's category and
# CoinMarketCap's tag miss new or bridged coins). Pegged-to-gold tokens are listed too: an index
# of crypto assets should not fill a slot with a gold proxy. The lead merges this with
# `bot.domain.strategies.STABLECOINS`.
# One maintained deny-list for the whole project: the index strategy filters with the same set.
KNOWN_STABLECOINS = STABLECOINS

_PAGE = {"vs_currency": "usd", "per_page": str(MAX_LIMIT), "page": "1"}
_COINGECKO_QUERY = {**_PAGE, "order": "market_cap_desc"}
_STABLECOIN_QUERY = {**_PAGE, "category": "stablecoins"}


@dataclass(frozen=True, slots=True)
class _Cached(Generic[T]):
    value: T
    fetched_at: float


@dataclass(frozen=True, slots=True)
class _GeckoCoin:
    coin_id: str
    entry: MarketCapEntry


class MarketCapService:
    """Cached market-cap rankings; concurrent callers of one source share one request.

    Caching: each source response (CoinGecko's ranking, CoinGecko's stablecoin category, and the
    CoinMarketCap ranking per API key) is kept `ttl` seconds (at least 60). Failures are never
    cached. When a refresh fails for a temporary reason (timeout, 5xx, 429, bad JSON), an entry
    younger than one hour is served instead and a warning is logged; a rejected CoinMarketCap key
    is never papered over with stale data. If only CoinGecko's stablecoin category is unavailable,
    the ranking is still served with stablecoins flagged by `KNOWN_STABLECOINS` alone.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        session: aiohttp.ClientSession | None = None,
        ttl: float = DEFAULT_TTL,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl < MIN_TTL:
            raise ValueError(f"ttl must be at least {MIN_TTL:g} seconds")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        self._coingecko_url = settings.coingecko_api_url.rstrip("/")
        self._cmc_url = settings.coinmarketcap_api_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self._ttl = ttl
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._clock = clock
        self._cache: dict[str, _Cached[Any]] = {}
        self._inflight: dict[str, asyncio.Task[Any]] = {}

    async def top(
        self, limit: int = 100, *, cmc_api_key: str | None = None
    ) -> list[MarketCapEntry]:
        """Up to `limit` (1..250) coins by market cap, best rank first, one entry per symbol.

        CoinMarketCap is used when `cmc_api_key` is given, CoinGecko otherwise. Raises
        AuthenticationFailed for a rejected key, RateLimited, or MarketCapUnavailable.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")
        if cmc_api_key:
            # Keyed by a digest so the cache (and anything that dumps it) never holds the key.
            digest = hashlib.sha256(cmc_api_key.encode()).hexdigest()
            entries = await self._cached(
                f"cmc:{digest}", "CoinMarketCap", lambda: self._fetch_cmc(cmc_api_key)
            )
        else:
            entries = await self._coingecko()
        return entries[:limit]

    async def check_key(self, cmc_api_key: str) -> None:
        """One CoinMarketCap request with the key before it is saved (its ranking is then cached
        for the user's first /index). Raises AuthenticationFailed for a key CoinMarketCap
        refuses, RateLimited or MarketCapUnavailable when it cannot tell."""
        await self.top(1, cmc_api_key=cmc_api_key)

    async def close(self) -> None:
        """Stop in-flight refreshes and close the HTTP session if this service created it."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._own_session and self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None if self._own_session else self._session

    # --- caching -------------------------------------------------------------------------------

    async def _cached(self, key: str, source: str, fetch: Callable[[], Awaitable[T]]) -> T:
        hit = self._cache.get(key)
        if hit is not None and self._clock() - hit.fetched_at < self._ttl:
            return hit.value
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.create_task(self._refresh(key, source, fetch))
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        # Shielded: one caller giving up (a cancelled handler) must not cancel the request the
        # other callers are waiting on.
        return await asyncio.shield(task)

    def _forget(self, key: str, task: asyncio.Task[Any]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled():
            task.exception()  # retrieved here so a refresh nobody awaits any more logs nothing

    async def _refresh(self, key: str, source: str, fetch: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await fetch()
        except (MarketCapUnavailable, RateLimited) as error:
            stale = self._cache.get(key)
            if stale is not None and self._clock() - stale.fetched_at < STALE_LIMIT:
                log.warning(
                    "%s unavailable (%s); serving market caps %.0f s old",
                    source,
                    error,
                    self._clock() - stale.fetched_at,
                )
                return stale.value
            raise
        now = self._clock()
        self._cache[key] = _Cached(value, now)
        # Per-key CMC entries would otherwise pile up; past the stale limit they are useless.
        for old in [k for k, v in self._cache.items() if now - v.fetched_at >= STALE_LIMIT]:
            del self._cache[old]
        return value

    # --- CoinGecko -----------------------------------------------------------------------------

    async def _coingecko(self) -> list[MarketCapEntry]:
        ranking, stable = await asyncio.gather(
            self._cached("coingecko:markets", "CoinGecko", self._fetch_gecko_markets),
            self._cached("coingecko:stablecoins", "CoinGecko", self._fetch_gecko_stablecoins),
            return_exceptions=True,
        )
        if isinstance(ranking, BaseException):
            raise ranking
        if isinstance(stable, BaseException):
            if not isinstance(stable, MarketCapUnavailable | RateLimited):
                raise stable
            # The ranking alone is still useful: the deny-list covers every large stablecoin.
            log.warning("CoinGecko stablecoin category unavailable (%s); deny-list only", stable)
            stable = frozenset()
        entries = [
            MarketCapEntry(
                symbol=coin.entry.symbol,
                market_cap=coin.entry.market_cap,
                rank=coin.entry.rank,
                is_stablecoin=coin.coin_id in stable or coin.entry.symbol in KNOWN_STABLECOINS,
            )
            for coin in ranking
        ]
        return _best_per_symbol(entries)

    async def _fetch_gecko_markets(self) -> list[_GeckoCoin]:
        payload = await self._get_json(
            "CoinGecko", f"{self._coingecko_url}/coins/markets", _COINGECKO_QUERY, {}
        )
        coins = []
        for item in _items(payload, "CoinGecko"):
            coin_id = item.get("id")
            entry = _entry(item.get("symbol"), item.get("market_cap"), item.get("market_cap_rank"))
            if isinstance(coin_id, str) and entry is not None:
                coins.append(_GeckoCoin(coin_id, entry))
        return coins

    async def _fetch_gecko_stablecoins(self) -> frozenset[str]:
        payload = await self._get_json(
            "CoinGecko", f"{self._coingecko_url}/coins/markets", _STABLECOIN_QUERY, {}
        )
        # Matched by id, not symbol: symbols are not unique and a namesake is not a stablecoin.
        return frozenset(
            item["id"] for item in _items(payload, "CoinGecko") if isinstance(item.get("id"), str)
        )

    # --- CoinMarketCap -------------------------------------------------------------------------

    async def _fetch_cmc(self, api_key: str) -> list[MarketCapEntry]:
        payload = await self._get_json(
            "CoinMarketCap",
            f"{self._cmc_url}/v1/cryptocurrency/listings/latest",
            {"start": "1", "limit": str(MAX_LIMIT), "convert": "USD"},
            {"X-CMC_PRO_API_KEY": api_key},
            auth_statuses=(401, 402, 403),
        )
        data = payload.get("data") if isinstance(payload, dict) else None
        entries = []
        for item in _items(data, "CoinMarketCap"):
            quote = item.get("quote")
            usd = quote.get("USD") if isinstance(quote, dict) else None
            cap = usd.get("market_cap") if isinstance(usd, dict) else None
            entry = _entry(item.get("symbol"), cap, item.get("cmc_rank"))
            if entry is None:
                continue
            tags = item.get("tags")
            tagged = isinstance(tags, list) and "stablecoin" in tags
            entries.append(
                MarketCapEntry(
                    symbol=entry.symbol,
                    market_cap=entry.market_cap,
                    rank=entry.rank,
                    is_stablecoin=tagged or entry.symbol in KNOWN_STABLECOINS,
                )
            )
        return _best_per_symbol(entries)

    # --- HTTP ----------------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or (self._own_session and self._session.closed):
            self._session = aiohttp.ClientSession(timeout=self._timeout)
            self._own_session = True
        return self._session

    async def _get_json(
        self,
        source: str,
        url: str,
        params: dict[str, str],
        headers: dict[str, str],
        *,
        auth_statuses: tuple[int, ...] = (),
    ) -> Any:
        """GET and decode JSON with Decimal numbers; error texts name the source, never headers."""
        try:
            async with self._http().get(
                url,
                params=params,
                headers={"Accept": "application/json", **headers},
                timeout=self._timeout,
                # A redirect would carry the key header to wherever it points.
                allow_redirects=False,
            ) as response:
                if response.status == 429:
                    raise RateLimited(
                        f"{source} rate limit reached",
                        retry_after=parse_retry_after(response.headers.get("Retry-After")),
                    )
                if response.status in auth_statuses:
                    raise AuthenticationFailed(f"{source} rejected the API key")
                if response.status != 200:
                    raise MarketCapUnavailable(f"{source} answered HTTP {response.status}")
                body = await _read_bounded(response)
        except (aiohttp.ClientError, TimeoutError) as error:
            # aiohttp's texts hold only host, port and URL; the key travels in a header.
            raise MarketCapUnavailable(f"{source} unreachable ({type(error).__name__})") from error
        try:
            return json.loads(body, parse_float=Decimal, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as error:
            raise MarketCapUnavailable(f"{source} sent a malformed response") from error


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)  # HTTP dates are GMT by definition
        seconds = (when - datetime.now(UTC)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


async def _read_bounded(response: aiohttp.ClientResponse) -> bytes:
    body = bytearray()
    async for chunk in response.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY:
            raise MarketCapUnavailable("market-cap response too large")
    return bytes(body)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name} in JSON")


def _items(payload: Any, source: str) -> list[dict[str, Any]]:
    """The list of coin objects, or a temporary error when the source sent another shape."""
    if not isinstance(payload, list):
        raise MarketCapUnavailable(f"{source} sent an unexpected response")
    return [item for item in payload if isinstance(item, dict)]


def _entry(symbol: Any, cap: Any, rank: Any) -> MarketCapEntry | None:
    """One entry, or None for coins without a usable symbol, a positive market cap, or a rank."""
    if not isinstance(symbol, str) or not symbol.strip():
        return None
    # bool is an int: reject it explicitly so `true` never becomes rank 1.
    if isinstance(cap, bool) or not isinstance(cap, int | Decimal):
        return None
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        return None
    market_cap = Decimal(cap)
    if market_cap <= 0:
        return None
    return MarketCapEntry(symbol=symbol.strip().upper(), market_cap=market_cap, rank=rank)


def _best_per_symbol(entries: list[MarketCapEntry]) -> list[MarketCapEntry]:
    """Symbols are not unique across coins: keep the best-ranked one of each, sorted by rank."""
    best: dict[str, MarketCapEntry] = {}
    for entry in sorted(entries, key=lambda e: e.rank):
        best.setdefault(entry.symbol, entry)
    return list(best.values())

"""A fake CoinGecko and CoinMarketCap on 127.0.0.1: rankings, stablecoins, faults, counts."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

# Route names for counts, faults and delays.
MARKETS = "markets"  # CoinGecko /coins/markets
STABLECOINS = "stablecoins"  # CoinGecko /coins/markets?category=stablecoins
CMC = "cmc"  # CoinMarketCap /v1/cryptocurrency/listings/latest
ROUTES = (MARKETS, STABLECOINS, CMC)

DEFAULT_CMC_KEY = "cmc-test-key-000000"


@dataclass(frozen=True, slots=True)
class Coin:
    """One coin as both sources know it; `market_cap` None is a coin without a known supply."""

    gecko_id: str
    symbol: str  # CoinMarketCap's spelling (mixed case happens: "USDe"); CoinGecko lower-cases it
    name: str
    market_cap: Decimal | None
    price: Decimal
    cmc_id: int
    stablecoin: bool = False
    tags: tuple[str, ...] = ()


def _coin(
    gecko_id: str, symbol: str, name: str, cap: str | None, price: str, cmc_id: int, **kw: Any
) -> Coin:
    return Coin(
        gecko_id, symbol, name, None if cap is None else Decimal(cap), Decimal(price), cmc_id, **kw
    )


_STABLE = {"stablecoin": True, "tags": ("stablecoin", "asset-backed-stablecoin")}

# Roughly mid-2024 values; ranks come from sorting by market cap, as both sources do.
COINS: tuple[Coin, ...] = (
    _coin("bitcoin", "BTC", "Bitcoin", "1296000000000", "65780.12", 1, tags=("mineable", "pow")),
    _coin(
        "ethereum",
        "ETH",
        "Ethereum",
        "402500000000",
        "3350.44",
        1027,
        tags=("pos", "smart-contracts"),
    ),
    _coin("tether", "USDT", "Tether", "112700000000", "1.0002", 825, **_STABLE),
    _coin("binancecoin", "BNB", "BNB", "86400000000", "591.3", 1839, tags=("bnb-chain",)),
    _coin("solana", "SOL", "Solana", "68100000000", "146.9", 5426, tags=("pos",)),
    _coin("usd-coin", "USDC", "USDC", "33100000000", "0.9999", 3408, **_STABLE),
    _coin("ripple", "XRP", "XRP", "29200000000", "0.5231", 52),
    _coin("dogecoin", "DOGE", "Dogecoin", "18100000000", "0.1244", 74, tags=("mineable", "memes")),
    _coin("the-open-network", "TON", "Toncoin", "17600000000", "6.98", 11419),
    _coin("cardano", "ADA", "Cardano", "14100000000", "0.3941", 2010, tags=("pos",)),
    _coin("tron", "TRX", "TRON", "11000000000", "0.1262", 1958),
    _coin("avalanche-2", "AVAX", "Avalanche", "10500000000", "26.51", 5805),
    _coin("shiba-inu", "SHIB", "Shiba Inu", "9800000000", "0.00001663", 5994, tags=("memes",)),
    _coin("chainlink", "LINK", "Chainlink", "8200000000", "13.97", 1975, tags=("oracles",)),
    _coin("polkadot", "DOT", "Polkadot", "8000000000", "5.61", 6636),
    _coin("bitcoin-cash", "BCH", "Bitcoin Cash", "7600000000", "385.2", 1831, tags=("mineable",)),
    _coin("near", "NEAR", "NEAR Protocol", "6000000000", "5.52", 6535),
    _coin("uniswap", "UNI", "Uniswap", "5900000000", "7.83", 7083, tags=("defi", "dex")),
    _coin("dai", "DAI", "Dai", "5300000000", "1.0001", 4943, **_STABLE),
    _coin("litecoin", "LTC", "Litecoin", "5100000000", "68.04", 2, tags=("mineable",)),
    _coin("internet-computer", "ICP", "Internet Computer", "4200000000", "9.02", 8916),
    _coin("polygon-ecosystem-token", "POL", "POL (ex-MATIC)", "4000000000", "0.4301", 28321),
    _coin("aptos", "APT", "Aptos", "3600000000", "7.01", 21794),
    _coin("ethena-usde", "USDe", "Ethena USDe", "3500000000", "0.9996", 29470, **_STABLE),
    _coin("ethereum-classic", "ETC", "Ethereum Classic", "3400000000", "23.12", 1321),
    _coin(
        "first-digital-usd", "FDUSD", "First Digital USD", "3200000000", "1.0003", 26081, **_STABLE
    ),
    _coin("monero", "XMR", "Monero", "3000000000", "165.4", 328, tags=("privacy",)),
    _coin("stellar", "XLM", "Stellar", "2800000000", "0.0951", 512),
    _coin("hedera-hashgraph", "HBAR", "Hedera", "2700000000", "0.0752", 4642),
    _coin("cosmos", "ATOM", "Cosmos Hub", "2500000000", "6.42", 3794),
    _coin("filecoin", "FIL", "Filecoin", "2400000000", "4.21", 2280),
    # Freshly listed, supply unknown: both sources send a null market cap and no rank.
    _coin("fresh-launch-token", "FRESH", "Fresh Launch", None, "0.0123", 99001),
)

# Only on CoinMarketCap: a second "TON" (Tokamak Network), far down the ranking. Symbols are not
# unique; a client must keep the best-ranked one.
CMC_ONLY: tuple[Coin, ...] = (
    _coin("tokamak-network", "TON", "Tokamak Network", "61000000", "1.42", 6731),
)


@dataclass(slots=True)
class Fault:
    """One injected answer: status, optional Retry-After, optional raw body."""

    status: int = 500
    retry_after: str | None = None
    body: str | None = None


@dataclass(slots=True)
class _Route:
    faults: list[Fault] = field(default_factory=list)
    delay: float = 0.0
    last_headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    last_query: dict[str, str] = field(default_factory=dict)


class FakeMarketCaps:
    """Both sources on one loopback port; `async with FakeMarketCaps() as caps:` starts it.

    `coins` and `cmc_only` are plain lists the test may change; `requests[route]` counts every
    request that reached a route; `fail()` queues faults and `delay()` slows a route down.
    """

    def __init__(
        self,
        cmc_keys: tuple[str, ...] = (DEFAULT_CMC_KEY,),
        *,
        coins: tuple[Coin, ...] = COINS,
        cmc_only: tuple[Coin, ...] = CMC_ONLY,
    ) -> None:
        self.cmc_keys = set(cmc_keys)
        self.coins = list(coins)
        self.cmc_only = list(cmc_only)
        self.requests: Counter[str] = Counter()
        self._routes = {name: _Route() for name in ROUTES}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- test controls -------------------------------------------------------------------------

    @property
    def coingecko_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    @property
    def cmc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail(
        self,
        route: str,
        status: int = 500,
        *,
        times: int = 1,
        retry_after: str | None = None,
        body: str | None = None,
    ) -> None:
        """Answer the next `times` requests of `route` with `status` (and `body` if given)."""
        self._routes[route].faults.extend(Fault(status, retry_after, body) for _ in range(times))

    def delay(self, route: str, seconds: float) -> None:
        """Wait `seconds` before answering each request of `route` (0 to stop)."""
        self._routes[route].delay = seconds

    def last_headers(self, route: str) -> CIMultiDict[str]:
        return self._routes[route].last_headers

    def last_query(self, route: str) -> dict[str, str]:
        return self._routes[route].last_query

    def set_market_cap(self, symbol: str, cap: str | None) -> None:
        """Change one coin's market cap (rankings follow)."""
        self.coins = [
            replace(c, market_cap=None if cap is None else Decimal(cap))
            if c.symbol == symbol
            else c
            for c in self.coins
        ]

    # --- routes --------------------------------------------------------------------------------

    async def _enter(self, route: str, request: web.Request) -> web.Response | None:
        self.requests[route] += 1
        state = self._routes[route]
        state.last_headers = CIMultiDict(request.headers)
        state.last_query = dict(request.query)
        if state.delay:
            await asyncio.sleep(state.delay)
        if not state.faults:
            return None
        fault = state.faults.pop(0)
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        if fault.body is not None:
            return web.Response(
                status=fault.status,
                text=fault.body,
                headers=headers,
                content_type="application/json",
            )
        return web.json_response(
            {"status": {"error_code": fault.status, "error_message": "injected fault"}},
            status=fault.status,
            headers=headers,
        )

    @staticmethod
    def _ranked(coins: list[Coin]) -> list[tuple[int | None, Coin]]:
        known = sorted(
            (c for c in coins if c.market_cap is not None), key=lambda c: -(c.market_cap or 0)
        )
        unknown = [c for c in coins if c.market_cap is None]
        return [*enumerate(known, start=1), *((None, c) for c in unknown)]

    async def _markets(self, request: web.Request) -> web.Response:
        stable_only = request.query.get("category") == "stablecoins"
        faulted = await self._enter(STABLECOINS if stable_only else MARKETS, request)
        if faulted is not None:
            return faulted
        if request.query.get("vs_currency") != "usd":
            return web.json_response({"error": "invalid vs_currency"}, status=400)
        per_page = min(int(request.query.get("per_page", "100")), 250)
        page = int(request.query.get("page", "1"))
        rows = [
            {
                "id": coin.gecko_id,
                "symbol": coin.symbol.lower(),
                "name": coin.name,
                "image": f"https://coin-images.example/{coin.gecko_id}.png",
                "current_price": float(coin.price),
                # CoinGecko sends market caps as integers and 0 (with a null rank) when unknown;
                # null appears too, so the fake sends null to cover the harder case.
                "market_cap": None if coin.market_cap is None else int(coin.market_cap),
                "market_cap_rank": rank,
                "total_volume": int((coin.market_cap or Decimal(10**6)) / 20),
                "price_change_percentage_24h": -1.234,
                "last_updated": "2024-07-01T12:00:00.000Z",
            }
            for rank, coin in self._ranked(self.coins)
            if coin.stablecoin or not stable_only
        ]
        return web.json_response(rows[(page - 1) * per_page : page * per_page])

    async def _listings(self, request: web.Request) -> web.Response:
        faulted = await self._enter(CMC, request)
        if faulted is not None:
            return faulted
        if request.headers.get("X-CMC_PRO_API_KEY") not in self.cmc_keys:
            return web.json_response(
                {"status": {"error_code": 1001, "error_message": "This API Key is invalid."}},
                status=401,
            )
        start = int(request.query.get("start", "1"))
        limit = min(int(request.query.get("limit", "100")), 5000)
        data: list[dict[str, Any]] = [
            {
                "id": coin.cmc_id,
                "name": coin.name,
                "symbol": coin.symbol,
                "slug": coin.gecko_id,
                "cmc_rank": rank,
                "tags": list(coin.tags),
                "quote": {
                    "USD": {
                        "price": float(coin.price),
                        "market_cap": None if coin.market_cap is None else float(coin.market_cap),
                        "last_updated": "2024-07-01T12:00:00.000Z",
                    }
                },
            }
            for rank, coin in self._ranked([*self.coins, *self.cmc_only])
        ]
        page = data[start - 1 : start - 1 + limit]
        return web.json_response(
            {"status": {"error_code": 0, "error_message": None, "credit_count": 1}, "data": page}
        )

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v3/coins/markets", self._markets)
        app.router.add_get("/v1/cryptocurrency/listings/latest", self._listings)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeMarketCaps:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

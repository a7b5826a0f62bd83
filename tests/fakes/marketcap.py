"""A fake CoinGecko and CoinMarketCap on 127.0.0.1: rankings, a stablecoin category, faults."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

COINS: tuple[tuple[str, str, str, bool], ...] = (
    # id, symbol, market cap (USD), stablecoin
    ("bitcoin", "btc", "1200000000000", False),
    ("ethereum", "eth", "360000000000", False),
    ("tether", "usdt", "120000000000", True),
    ("binancecoin", "bnb", "90000000000", False),
    ("solana", "sol", "70000000000", False),
    ("usd-coin", "usdc", "35000000000", True),
    ("ripple", "xrp", "33000000000", False),
    ("dogecoin", "doge", "21000000000", False),
    ("cardano", "ada", "16000000000", False),
    ("tron", "trx", "10500000000", False),
    ("avalanche-2", "avax", "14000000000", False),
    ("chainlink", "link", "9000000000", False),
    ("polkadot", "dot", "9500000000", False),
    ("litecoin", "ltc", "6000000000", False),
    ("dai", "dai", "5000000000", True),
    ("first-digital-usd", "fdusd", "3000000000", True),
)


class FakeMarketCaps:
    def __init__(self, cmc_keys: tuple[str, ...] = ("cmc-test-key-000000",)) -> None:
        self.coins = list(COINS)
        self.cmc_keys = set(cmc_keys)
        self.requests: list[str] = []
        self.fail_next: list[int] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def coingecko_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v3"

    @property
    def cmc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _ranked(self) -> list[tuple[int, tuple[str, str, str, bool]]]:
        ordered = sorted(self.coins, key=lambda c: -Decimal(c[2]))
        return list(enumerate(ordered, start=1))

    async def _markets(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if self.fail_next:
            return web.Response(status=self.fail_next.pop(0), headers={"Retry-After": "1"})
        stable_only = request.query.get("category") == "stablecoins"
        payload = [
            {
                "id": coin_id,
                "symbol": symbol,
                "market_cap": float(cap),
                "market_cap_rank": rank,
                "current_price": 1.0,
            }
            for rank, (coin_id, symbol, cap, stable) in self._ranked()
            if stable or not stable_only
        ]
        return web.json_response(payload)

    async def _listings(self, request: web.Request) -> web.Response:
        self.requests.append(request.path_qs)
        if request.headers.get("X-CMC_PRO_API_KEY") not in self.cmc_keys:
            return web.json_response(
                {"status": {"error_code": 1001, "error_message": "This API Key is invalid."}},
                status=401,
            )
        data: list[dict[str, Any]] = [
            {
                "id": rank,
                "symbol": symbol.upper(),
                "cmc_rank": rank,
                "tags": ["stablecoin"] if stable else [],
                "quote": {"USD": {"market_cap": float(cap)}},
            }
            for rank, (_id, symbol, cap, stable) in self._ranked()
        ]
        return web.json_response({"data": data})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/api/v3/coins/markets", self._markets)
        app.router.add_get("/v1/cryptocurrency/listings/latest", self._listings)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeMarketCaps:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

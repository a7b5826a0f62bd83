"""A fake Binance spot REST server on 127.0.0.1: signatures, filters, fills, faults, counting."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import random
import time
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

FEE = Decimal("0.001")
WEIGHTS = {
    "/api/v3/exchangeInfo": 20,
    "/api/v3/ticker/price": 4,
    "/api/v3/ticker/24hr": 80,
    "/api/v3/account": 20,
    "/api/v3/order": 1,
    "/api/v3/order/test": 1,
    "/api/v3/openOrders": 6,
    "/sapi/v1/account/apiRestrictions": 1,
    "/api/v3/time": 1,
    "/api/v3/ping": 1,
}
GET_ORDER_WEIGHT = 4

# symbol: (base, quote, price, step, tick, min_qty, min_notional)
DEFAULT_MARKETS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("BTC", "USDT", "60000", "0.00001", "0.01", "0.00001", "5"),
    ("ETH", "USDT", "3000", "0.0001", "0.01", "0.0001", "5"),
    ("BNB", "USDT", "600", "0.001", "0.01", "0.001", "5"),
    ("SOL", "USDT", "150", "0.001", "0.01", "0.001", "5"),
    ("XRP", "USDT", "0.6", "0.1", "0.0001", "0.1", "5"),
    ("ADA", "USDT", "0.45", "0.1", "0.0001", "0.1", "5"),
    ("DOGE", "USDT", "0.15", "1", "0.00001", "1", "5"),
    ("LTC", "USDT", "80", "0.001", "0.01", "0.001", "5"),
    ("DOT", "USDT", "7", "0.01", "0.001", "0.01", "5"),
    ("LINK", "USDT", "15", "0.01", "0.001", "0.01", "5"),
    ("TRX", "USDT", "0.12", "0.1", "0.00001", "0.1", "5"),
    ("AVAX", "USDT", "35", "0.01", "0.01", "0.01", "5"),
    ("USDC", "USDT", "1", "1", "0.0001", "1", "5"),
    ("FDUSD", "USDT", "1", "1", "0.0001", "1", "5"),
    ("ETH", "BTC", "0.05", "0.0001", "0.00001", "0.0001", "0.0001"),
    ("BNB", "BTC", "0.01", "0.001", "0.000001", "0.001", "0.0001"),
    ("SOL", "BTC", "0.0025", "0.001", "0.0000001", "0.001", "0.0001"),
    ("ZZZ", "BTC", "0.00001", "1", "0.00000001", "1", "0.0001"),  # tradable only via BTC
)


class Timeout(Exception):
    """Internal: the request should hang past the client's timeout."""


@dataclass
class Account:
    api_key: str
    secret: str
    balances: dict[str, Decimal]
    permissions: dict[str, Any]


@dataclass
class Order:
    api_key: str
    symbol: str
    order_id: int
    client_order_id: str
    side: str
    orig_qty: Decimal
    executed_qty: Decimal
    quote_qty: Decimal
    status: str
    price: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    orig_quote_qty: Decimal = Decimal(0)


@dataclass
class Recorded:
    method: str
    path: str
    api_key: str | None
    weight: int
    status: int
    time: float
    params: dict[str, str] = field(default_factory=dict)
    booked: bool = False  # this request created an order


@dataclass
class Fault:
    path: str
    kind: str  # 500 | 502 | 429 | 418 | timeout | timeout_after | partial | latency
    remaining: int | None  # None: forever (with probability)
    probability: float = 1.0
    api_key: str | None = None
    retry_after: int = 1
    delay: float = 0.0
    method: str | None = None


class FakeBinance:
    """Drive it from tests: accounts, prices, faults; read back requests, orders, balances."""

    def __init__(self, *, seed: int = 1, timeout_sleep: float = 3.0) -> None:
        self.markets: dict[str, tuple[str, str, Decimal, Decimal, Decimal, Decimal]] = {}
        self.prices: dict[str, Decimal] = {}
        for base, quote, price, step, tick, min_qty, min_notional in DEFAULT_MARKETS:
            symbol = base + quote
            self.markets[symbol] = (
                base,
                quote,
                Decimal(step),
                Decimal(tick),
                Decimal(min_qty),
                Decimal(min_notional),
            )
            self.prices[symbol] = Decimal(price)
        self.accounts: dict[str, Account] = {}
        self.order_book: list[Order] = []
        self._by_client: dict[tuple[str, str], Order] = {}
        self._ids = itertools.count(1000)
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.random = random.Random(seed)
        self.timeout_sleep = timeout_sleep
        self.recv_window_ms = 60_000
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- control ---------------------------------------------------------------------------------

    def add_account(
        self, api_key: str, secret: str, balances: dict[str, Any] | None = None, **permissions: Any
    ) -> Account:
        perms = {
            "ipRestrict": False,
            "createTime": 1700000000000,
            "enableReading": True,
            "enableSpotAndMarginTrading": True,
            "enableWithdrawals": False,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enablePortfolioMarginTrading": False,
        }
        perms.update(permissions)
        account = Account(
            api_key, secret, {a: Decimal(str(v)) for a, v in (balances or {}).items()}, perms
        )
        self.accounts[api_key] = account
        return account

    def balances(self, api_key: str) -> dict[str, Decimal]:
        return {a: v for a, v in self.accounts[api_key].balances.items() if v}

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        self.prices[symbol.replace("/", "")] = Decimal(str(price))

    def inject(
        self,
        path: str,
        kind: str,
        *,
        count: int | None = 1,
        probability: float = 1.0,
        api_key: str | None = None,
        retry_after: int = 1,
        delay: float = 0.0,
        method: str | None = None,
    ) -> Fault:
        fault = Fault(path, kind, count, probability, api_key, retry_after, delay, method)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def orders(self, api_key: str | None = None) -> list[Order]:
        return [o for o in self.order_book if api_key is None or o.api_key == api_key]

    def count(self, path: str, method: str | None = None) -> int:
        return sum(
            1 for r in self.requests if r.path == path and (method is None or r.method == method)
        )

    def total_weight(self) -> int:
        return sum(r.weight for r in self.requests)

    def reset_records(self) -> None:
        self.requests.clear()

    def order_posts(self, client_order_id: str) -> int:
        """How many times a POST /api/v3/order carried this client order id."""
        return sum(
            1
            for r in self.requests
            if r.path == "/api/v3/order"
            and r.method == "POST"
            and r.params.get("newClientOrderId") == client_order_id
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBinance:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- plumbing ---------------------------------------------------------------------------

    def _fault_for(self, method: str, path: str, api_key: str | None) -> Fault | None:
        for fault in self.faults:
            if fault.path != path or (fault.api_key and fault.api_key != api_key):
                continue
            if fault.method and fault.method != method:
                continue
            if fault.remaining is not None and fault.remaining <= 0:
                continue
            if fault.probability < 1.0 and self.random.random() >= fault.probability:
                continue
            if fault.remaining is not None:
                fault.remaining -= 1
            return fault
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body = await request.text()
        params = dict(parse_qsl(request.query_string, keep_blank_values=True))
        params.update(dict(parse_qsl(body, keep_blank_values=True)))
        api_key = request.headers.get("X-MBX-APIKEY")
        weight = WEIGHTS.get(path, 1)
        if path == "/api/v3/order" and request.method == "GET":
            weight = GET_ORDER_WEIGHT
        record = Recorded(
            request.method,
            path,
            api_key,
            weight,
            200,
            time.monotonic(),
            {k: v for k, v in params.items() if k != "signature"},
        )
        self.requests.append(record)
        fault = self._fault_for(request.method, path, api_key)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind in ("500", "502", "503"):
            record.status = int(fault.kind)
            return web.Response(status=record.status, text="<html>Bad Gateway</html>")
        if fault is not None and fault.kind in ("429", "418"):
            record.status = int(fault.kind)
            return self._error(
                record,
                int(fault.kind),
                -1003,
                "Too many requests; please use the websocket for live updates.",
                {"Retry-After": str(fault.retry_after)},
            )
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(self.timeout_sleep)
            record.status = 504
            return web.Response(status=504)
        try:
            result = self._route(
                request.method, path, params, api_key, request.query_string, body, fault
            )
        except _ApiError as error:
            record.status = error.status
            return self._error(record, error.status, error.code, error.msg)
        record.booked = path == "/api/v3/order" and request.method == "POST"
        if fault is not None and fault.kind == "timeout_after":
            await asyncio.sleep(self.timeout_sleep)  # booked, but the answer comes too late
        return self._json(record, result)

    def _used_weight(self) -> int:
        now = time.monotonic()
        return sum(r.weight for r in self.requests if now - r.time < 60)

    def _json(self, record: Recorded, payload: Any) -> web.Response:
        return web.Response(
            text=json.dumps(payload),
            content_type="application/json",
            headers={"X-MBX-USED-WEIGHT-1M": str(self._used_weight())},
        )

    def _error(
        self,
        record: Recorded,
        status: int,
        code: int,
        msg: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        h = {"X-MBX-USED-WEIGHT-1M": str(self._used_weight())}
        h.update(headers or {})
        return web.Response(
            status=status,
            text=json.dumps({"code": code, "msg": msg}),
            content_type="application/json",
            headers=h,
        )

    def _auth(self, params: dict[str, str], api_key: str | None, query: str, body: str) -> Account:
        account = self.accounts.get(api_key or "")
        if account is None:
            raise _ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
        payload = query + body
        signature = params.get("signature", "")
        payload = payload.replace(f"&signature={signature}", "").replace(
            f"signature={signature}", ""
        )
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _ApiError(400, -1022, "Signature for this request is not valid.")
        timestamp = int(params.get("timestamp", "0"))
        window = int(params.get("recvWindow", self.recv_window_ms))
        if abs(time.time() * 1000 - timestamp) > window:
            raise _ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
        return account

    def _route(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        api_key: str | None,
        query: str,
        body: str,
        fault: Fault | None,
    ) -> Any:
        if path == "/api/v3/ping":
            return {}
        if path == "/api/v3/time":
            return {"serverTime": int(time.time() * 1000)}
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info()
        if path == "/api/v3/ticker/price":
            if "symbol" in params:
                return {"symbol": params["symbol"], "price": str(self.prices[params["symbol"]])}
            return [{"symbol": s, "price": str(p)} for s, p in self.prices.items()]
        if path == "/api/v3/ticker/24hr":
            return [
                {
                    "symbol": s,
                    "lastPrice": str(p),
                    "openPrice": str(p),
                    "highPrice": str(p),
                    "lowPrice": str(p),
                    "volume": "1000",
                    "quoteVolume": "1000000",
                    "closeTime": int(time.time() * 1000),
                }
                for s, p in self.prices.items()
            ]
        account = self._auth(params, api_key, query, body)
        if path == "/api/v3/account":
            return {
                "makerCommission": 10,
                "takerCommission": 10,
                "canTrade": True,
                "canWithdraw": False,
                "canDeposit": True,
                "accountType": "SPOT",
                "permissions": ["SPOT"],
                "updateTime": int(time.time() * 1000),
                "balances": [
                    {"asset": a, "free": str(v), "locked": "0.00000000"}
                    for a, v in account.balances.items()
                ],
            }
        if path == "/sapi/v1/account/apiRestrictions":
            return account.permissions
        if path == "/api/v3/openOrders":
            return []
        if path == "/api/v3/order" and method == "GET":
            return self._get_order(account, params)
        if path in ("/api/v3/order", "/api/v3/order/test") and method == "POST":
            if not account.permissions.get("enableSpotAndMarginTrading"):
                raise _ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            order = self._new_order(
                account,
                params,
                test=path.endswith("/test"),
                partial=fault is not None and fault.kind == "partial",
            )
            return {} if order is None else self._order_json(order, full=True)
        raise _ApiError(404, -1100, f"unknown endpoint {path}")

    def _exchange_info(self) -> dict[str, Any]:
        symbols = []
        for symbol, (base, quote, step, tick, min_qty, min_notional) in self.markets.items():
            symbols.append(
                {
                    "symbol": symbol,
                    "status": "TRADING",
                    "baseAsset": base,
                    "baseAssetPrecision": 8,
                    "quoteAsset": quote,
                    "quotePrecision": 8,
                    "quoteAssetPrecision": 8,
                    "baseCommissionPrecision": 8,
                    "quoteCommissionPrecision": 8,
                    "orderTypes": [
                        "LIMIT",
                        "LIMIT_MAKER",
                        "MARKET",
                        "STOP_LOSS_LIMIT",
                        "TAKE_PROFIT_LIMIT",
                    ],
                    "icebergAllowed": True,
                    "ocoAllowed": True,
                    "otoAllowed": True,
                    "quoteOrderQtyMarketAllowed": True,
                    "allowTrailingStop": True,
                    "cancelReplaceAllowed": True,
                    "isSpotTradingAllowed": True,
                    "isMarginTradingAllowed": False,
                    "filters": [
                        {
                            "filterType": "PRICE_FILTER",
                            "minPrice": str(tick),
                            "maxPrice": "1000000.00",
                            "tickSize": str(tick),
                        },
                        {
                            "filterType": "LOT_SIZE",
                            "minQty": str(min_qty),
                            "maxQty": "9000000",
                            "stepSize": str(step),
                        },
                        {
                            "filterType": "MARKET_LOT_SIZE",
                            "minQty": "0",
                            "maxQty": "9000000",
                            "stepSize": "0",
                        },
                        {
                            "filterType": "NOTIONAL",
                            "minNotional": str(min_notional),
                            "applyMinToMarket": True,
                            "maxNotional": "9000000",
                            "applyMaxToMarket": False,
                            "avgPriceMins": 5,
                        },
                    ],
                    "permissions": [],
                    "permissionSets": [["SPOT"]],
                    "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                    "allowedSelfTradePreventionModes": [
                        "EXPIRE_TAKER",
                        "EXPIRE_MAKER",
                        "EXPIRE_BOTH",
                    ],
                }
            )
        return {
            "timezone": "UTC",
            "serverTime": int(time.time() * 1000),
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 6000,
                },
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
                {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
            ],
            "exchangeFilters": [],
            "symbols": symbols,
        }

    def _new_order(
        self, account: Account, params: dict[str, str], *, test: bool, partial: bool
    ) -> Order | None:
        symbol = params.get("symbol", "")
        if symbol not in self.markets:
            raise _ApiError(400, -1121, "Invalid symbol.")
        if params.get("type") != "MARKET":
            raise _ApiError(400, -1116, "Invalid orderType.")
        base, quote, step, _tick, min_qty, min_notional = self.markets[symbol]
        price = self.prices[symbol]
        side = params.get("side", "")
        cid = params.get("newClientOrderId") or f"fake{next(self._ids)}"
        if (account.api_key, cid) in self._by_client:
            raise _ApiError(400, -2010, "Duplicate order sent.")
        if "quoteOrderQty" in params:
            quote_qty = Decimal(params["quoteOrderQty"])
            qty = (quote_qty / price / step).to_integral_value(ROUND_DOWN) * step
        else:
            qty = Decimal(params.get("quantity", "0"))
            if qty % step != 0:
                raise _ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if qty < min_qty:
            raise _ApiError(400, -1013, "Filter failure: LOT_SIZE")
        if qty * price < min_notional:
            raise _ApiError(400, -1013, "Filter failure: NOTIONAL")
        executed = qty
        if partial:
            executed = (qty / 2 / step).to_integral_value(ROUND_DOWN) * step
        cost = executed * price
        balances = account.balances
        if side == "SELL" and balances.get(base, Decimal(0)) < qty:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if side == "BUY" and balances.get(quote, Decimal(0)) < qty * price:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if test:
            return None
        if side == "SELL":
            commission, commission_asset = cost * FEE, quote
            balances[base] = balances.get(base, Decimal(0)) - executed
            balances[quote] = balances.get(quote, Decimal(0)) + cost - commission
        else:
            commission, commission_asset = executed * FEE, base
            balances[quote] = balances.get(quote, Decimal(0)) - cost
            balances[base] = balances.get(base, Decimal(0)) + executed - commission
        order = Order(
            account.api_key,
            symbol,
            next(self._ids),
            cid,
            side,
            qty,
            executed,
            cost,
            "EXPIRED" if executed < qty else "FILLED",
            price,
            commission,
            commission_asset,
            int(time.time() * 1000),
            Decimal(params.get("quoteOrderQty", "0")),
        )
        self.order_book.append(order)
        self._by_client[(account.api_key, cid)] = order
        return order

    def _get_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        cid = params.get("origClientOrderId")
        order = self._by_client.get((account.api_key, cid or ""))
        if order is None and params.get("orderId"):
            order = next(
                (
                    o
                    for o in self.order_book
                    if o.api_key == account.api_key and str(o.order_id) == params["orderId"]
                ),
                None,
            )
        if order is None:
            raise _ApiError(400, -2013, "Order does not exist.")
        return self._order_json(order, full=False)

    @staticmethod
    def _order_json(order: Order, *, full: bool) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time_ms,
            "price": "0.00000000",
            "origQty": str(order.orig_qty),
            "executedQty": str(order.executed_qty),
            "cummulativeQuoteQty": str(order.quote_qty),
            "status": order.status,
            "timeInForce": "GTC",
            "type": "MARKET",
            "side": order.side,
            "workingTime": order.time_ms,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "origQuoteOrderQty": str(order.orig_quote_qty),
        }
        if full:
            payload["fills"] = (
                [
                    {
                        "price": str(order.price),
                        "qty": str(order.executed_qty),
                        "commission": str(order.commission),
                        "commissionAsset": order.commission_asset,
                        "tradeId": order.order_id,
                    }
                ]
                if order.executed_qty
                else []
            )
        else:
            payload.update(
                {
                    "time": order.time_ms,
                    "updateTime": order.time_ms,
                    "isWorking": True,
                    "stopPrice": "0",
                    "icebergQty": "0",
                }
            )
        return payload


class _ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg

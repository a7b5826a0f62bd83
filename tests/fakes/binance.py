"""A fake Binance spot REST server on 127.0.0.1, as unkind as Binance itself.

Signatures and the timestamp window (against a server clock that can be off), exchangeInfo
filters enforced by `binance_rules` (synthetic markets or the real 2023-10 symbol list), fills
with fees in the received asset or in BNB (mixed within one order when BNB runs out), client
order ids unique among OPEN orders only (a filled MARKET order's id is accepted again, as on
Binance), lookups that miss for a moment after an answer was lost, JSON-coded 5xx and 4xx,
429/418 with Retry-After, `cummulativeQuoteQty` of -1 on old orders. Every request is
recorded with its weight.
"""

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

from tests.fakes.binance_budgets import Budgets
from tests.fakes.binance_rules import Reject, SymbolRules, synthetic_symbol

FEE = Decimal("0.001")
BNB_FEE = Decimal("0.00075")  # 25% off when BNB pays
WEIGHTS = {
    "/api/v3/exchangeInfo": 20,
    "/api/v3/ticker/price": 4,
    "/api/v3/ticker/24hr": 80,
    "/api/v3/account": 20,
    "/api/v3/order": 1,
    "/api/v3/order/test": 1,
    "/api/v3/openOrders": 6,
    "/api/v3/allOrders": 20,
    "/api/v3/myTrades": 20,
    "/sapi/v1/account/apiRestrictions": 1,
    "/sapi/v3/asset/getUserAsset": 5,
    "/api/v3/time": 1,
    "/api/v3/ping": 1,
}
GET_ORDER_WEIGHT = 4
DEFAULT_RECV_WINDOW_MS = 5000

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


class _ApiError(Exception):
    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


@dataclass
class Account:
    api_key: str
    secret: str
    balances: dict[str, Decimal]
    permissions: dict[str, Any]
    pay_fees_in_bnb: bool = False


@dataclass
class Fill:
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    trade_id: int


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
    fills: list[Fill]
    time_ms: int
    orig_quote_qty: Decimal = Decimal(0)
    visible_at: float = 0.0  # monotonic time from which lookups find it
    cost_unknown: bool = False  # Binance answers cummulativeQuoteQty -1 ("data not available")

    @property
    def commission(self) -> dict[str, Decimal]:
        paid: dict[str, Decimal] = {}
        for fill in self.fills:
            paid[fill.commission_asset] = paid.get(fill.commission_asset, Decimal(0)) + (
                fill.commission
            )
        return paid

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")


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
    """A fault on matching requests. `kind`:
    500 | 502 | 503: HTML error page (nothing booked);
    code: a JSON body {"code": code, "msg": msg} with HTTP `status`, after booking the order
          when `booked` (Binance's -1001/-1006/-1007/-1008: outcome unknown, maybe executed);
    429 | 418: rate limited with Retry-After (never booked);
    timeout: hangs past the client's timeout before booking; timeout_after: books, then hangs;
    garbage: a 200 whose body is not JSON (a proxy's maintenance page);
    payload: a 200 with `payload` as its JSON body (a shape nobody expected);
    partial: the MARKET order runs out of liquidity (EXPIRED, half filled);
    latency: answers after `delay` seconds.
    """

    path: str
    kind: str
    remaining: int | None  # None: forever (with probability)
    probability: float = 1.0
    api_key: str | None = None
    retry_after: int = 1
    delay: float = 0.0
    method: str | None = None
    code: int = -1001
    status: int = 503
    msg: str = ""
    booked: bool = False
    payload: Any = None


ERROR_MESSAGES = {
    -1001: "Internal error; unable to process your request. Please try again.",
    -1006: "An unexpected response was received from the message bus. Execution status unknown.",
    -1007: "Timeout waiting for response from backend server. Send status unknown; "
    "execution status unknown.",
    -1008: "Server is currently overloaded with other requests. Please try again in a few minutes.",
}


class FakeBinance:
    """Drive it from tests: accounts, prices, faults; read back requests, orders, balances."""

    def __init__(
        self,
        *,
        seed: int = 1,
        timeout_sleep: float = 3.0,
        symbols: list[dict[str, Any]] | None = None,
        prices: dict[str, Decimal | str] | None = None,
    ) -> None:
        self.markets: dict[str, SymbolRules] = {}
        self.prices: dict[str, Decimal] = {}
        if symbols is None:
            for base, quote, price, step, tick, min_qty, min_notional in DEFAULT_MARKETS:
                raw = synthetic_symbol(
                    base, quote, step=step, tick=tick, min_qty=min_qty, min_notional=min_notional
                )
                self.markets[raw["symbol"]] = SymbolRules.from_exchange_info(raw)
                self.prices[raw["symbol"]] = Decimal(price)
        else:
            for raw in symbols:
                self.markets[raw["symbol"]] = SymbolRules.from_exchange_info(raw)
        for symbol, price in (prices or {}).items():
            self.prices[symbol.replace("/", "")] = Decimal(str(price))
        self.accounts: dict[str, Account] = {}
        self.order_book: list[Order] = []
        self._ids = itertools.count(1000)
        self._trade_ids = itertools.count(50_000)
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.random = random.Random(seed)
        self.timeout_sleep = timeout_sleep
        self.clock_offset_ms = 0  # the server's clock minus ours: -1021 unless clients sync
        self.lookup_delay = 1.5  # seconds an order stays invisible after its answer was lost
        self.strict_client_ids = False  # refuse every reused id (kinder than Binance: opt in)
        self.fills_per_order = 1
        self.budgets = Budgets()  # enforced, as Binance does: tests that flood must opt out
        self.rate_limits: list[dict[str, Any]] = [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": 6000,
            },
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
            {
                "rateLimitType": "RAW_REQUESTS",
                "interval": "MINUTE",
                "intervalNum": 5,
                "limit": 61000,
            },
        ]
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- control ---------------------------------------------------------------------------

    def add_account(
        self,
        api_key: str,
        secret: str,
        balances: dict[str, Any] | None = None,
        *,
        pay_fees_in_bnb: bool = False,
        **permissions: Any,
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
            api_key,
            secret,
            {a: Decimal(str(v)) for a, v in (balances or {}).items()},
            perms,
            pay_fees_in_bnb,
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
        code: int = -1001,
        status: int = 503,
        msg: str = "",
        booked: bool = False,
        payload: Any = None,
    ) -> Fault:
        fault = Fault(
            path,
            kind,
            count,
            probability,
            api_key,
            retry_after,
            delay,
            method,
            code,
            status,
            msg or ERROR_MESSAGES.get(code, "error"),
            booked,
            payload,
        )
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

    def server_time_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

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
        if path == "/api/v3/openOrders" and "symbol" not in params:
            weight = 80
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
        is_order = path == "/api/v3/order" and request.method == "POST"
        refusal = self.budgets.charge(path, weight, api_key=api_key, is_order=is_order)
        if refusal is not None:
            record.status = refusal.status
            return self._error(
                record,
                refusal.status,
                refusal.code,
                refusal.msg,
                {"Retry-After": str(refusal.retry_after)},
            )
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
                "Too much request weight used; current limit is 6000 request weight per 1 "
                "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                {"Retry-After": str(fault.retry_after)},
            )
        if fault is not None and fault.kind == "timeout":
            await asyncio.sleep(self.timeout_sleep)
            record.status = 504
            return web.Response(status=504)
        if fault is not None and fault.kind == "garbage":
            return web.Response(status=200, text="<html>maintenance</html>")
        if fault is not None and fault.kind == "payload":
            return self._json(record, fault.payload)
        if fault is not None and fault.kind == "code" and not fault.booked:
            record.status = fault.status
            return self._error(record, fault.status, fault.code, fault.msg)
        try:
            result = self._route(
                request.method, path, params, api_key, request.query_string, body, fault
            )
        except _ApiError as error:
            record.status = error.status
            return self._error(record, error.status, error.code, error.msg)
        except Reject as error:
            record.status = error.status
            return self._error(record, error.status, error.code, error.msg)
        record.booked = path == "/api/v3/order" and request.method == "POST"
        lost = fault is not None and fault.kind in ("timeout_after", "code")
        if lost and record.booked and self.order_book:
            # The answer never reaches the client, and for a moment a lookup misses too.
            self.order_book[-1].visible_at = time.monotonic() + self.lookup_delay
        if fault is not None and fault.kind == "timeout_after":
            await asyncio.sleep(self.timeout_sleep)  # booked, but the answer comes too late
        if fault is not None and fault.kind == "code":
            record.status = fault.status
            return self._error(record, fault.status, fault.code, fault.msg)
        return self._json(record, result)

    def _headers(self, record: Recorded) -> dict[str, str]:
        is_order = record.path == "/api/v3/order" and record.method == "POST"
        return self.budgets.headers(record.path, record.api_key, is_order)

    def _json(self, record: Recorded, payload: Any) -> web.Response:
        return web.Response(
            text=json.dumps(payload),
            content_type="application/json",
            headers=self._headers(record),
        )

    def _error(
        self,
        record: Recorded,
        status: int,
        code: int,
        msg: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        h = self._headers(record)
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
        # Binance: processed only if timestamp < serverTime + 1000 and serverTime - timestamp
        # <= recvWindow (rest-api.md "Timing security").
        timestamp = int(params.get("timestamp", "0"))
        window = int(params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        server = self.server_time_ms()
        if timestamp >= server + 1000:
            raise _ApiError(
                400, -1021, "Timestamp for this request was 1000ms ahead of the server's time."
            )
        if server - timestamp > window:
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
            return {"serverTime": self.server_time_ms()}
        if path == "/api/v3/exchangeInfo":
            return self._exchange_info()
        if path == "/api/v3/ticker/price":
            if "symbol" in params:
                return {"symbol": params["symbol"], "price": str(self.prices[params["symbol"]])}
            return [{"symbol": s, "price": str(p)} for s, p in self.prices.items()]
        if path == "/api/v3/ticker/24hr":
            return [self._ticker(s, p) for s, p in self.prices.items()]
        account = self._auth(params, api_key, query, body)
        if path == "/api/v3/account":
            return self._account_json(account)
        if path == "/sapi/v3/asset/getUserAsset":
            return [
                {
                    "asset": asset,
                    "free": str(amount),
                    "locked": "0",
                    "freeze": "0",
                    "withdrawing": "0",
                    "ipoable": "0",
                    "btcValuation": "0",
                }
                for asset, amount in sorted(account.balances.items())
                if amount > 0 and (not params.get("asset") or params["asset"] == asset)
            ]
        if path == "/sapi/v1/account/apiRestrictions":
            return account.permissions
        if path == "/api/v3/openOrders":
            return [
                self._order_json(o, "RESULT")
                for o in self.order_book
                if o.api_key == account.api_key and o.is_open
            ]
        if path == "/api/v3/order" and method == "GET":
            return self._get_order(account, params)
        if path == "/api/v3/allOrders":
            return self._all_orders(account, params)
        if path == "/api/v3/myTrades":
            return self._my_trades(account, params)
        if path in ("/api/v3/order", "/api/v3/order/test") and method == "POST":
            if not account.permissions.get("enableSpotAndMarginTrading"):
                raise _ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            order = self._new_order(
                account,
                params,
                test=path.endswith("/test"),
                partial=fault is not None and fault.kind == "partial",
            )
            if order is None:
                return {}
            return self._order_json(order, params.get("newOrderRespType", "FULL"))
        raise _ApiError(404, -1100, f"unknown endpoint {path}")

    def _ticker(self, symbol: str, price: Decimal) -> dict[str, Any]:
        return {
            "symbol": symbol,
            "lastPrice": str(price),
            "openPrice": str(price),
            "highPrice": str(price),
            "lowPrice": str(price),
            "volume": "1000",
            "quoteVolume": "1000000",
            "closeTime": int(time.time() * 1000),
        }

    def _account_json(self, account: Account) -> dict[str, Any]:
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

    def _exchange_info(self) -> dict[str, Any]:
        return {
            "timezone": "UTC",
            "serverTime": self.server_time_ms(),
            "rateLimits": self.rate_limits,
            "exchangeFilters": [],
            "symbols": [rules.raw for rules in self.markets.values()],
        }

    # --- orders -----------------------------------------------------------------------------

    def _new_order(
        self, account: Account, params: dict[str, str], *, test: bool, partial: bool
    ) -> Order | None:
        symbol = params.get("symbol", "")
        rules = self.markets.get(symbol)
        if rules is None or symbol not in self.prices:
            raise _ApiError(400, -1121, "Invalid symbol.")
        if params.get("type") != "MARKET":
            raise _ApiError(400, -1116, "Invalid orderType.")
        side = params.get("side", "")
        cid = params.get("newClientOrderId") or f"fake{next(self._ids)}"
        # Binance keeps newClientOrderId unique among OPEN orders only.
        for order in self.order_book:
            if order.api_key == account.api_key and order.client_order_id == cid:
                if order.is_open or self.strict_client_ids:
                    raise _ApiError(400, -2010, "Duplicate order sent.")
        price = self.prices[symbol]
        quote_qty = Decimal(params["quoteOrderQty"]) if "quoteOrderQty" in params else None
        quantity = Decimal(params["quantity"]) if "quantity" in params else None
        qty = rules.market_quantity(quantity=quantity, quote_order_qty=quote_qty, price=price)
        executed = qty
        if partial:
            executed = (qty / 2 / rules.step).to_integral_value(ROUND_DOWN) * rules.step
        balances = account.balances
        if side == "SELL" and balances.get(rules.base, Decimal(0)) < qty:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if side == "BUY" and balances.get(rules.quote, Decimal(0)) < qty * price:
            raise _ApiError(400, -2010, "Account has insufficient balance for requested action.")
        if test:
            return None
        fills = self._fill(account, rules, side, executed, price)
        order = Order(
            account.api_key,
            symbol,
            next(self._ids),
            cid,
            side,
            qty,
            executed,
            sum((f.qty * f.price for f in fills), Decimal(0)),
            "EXPIRED" if executed < qty else "FILLED",
            price,
            fills,
            int(time.time() * 1000),
            quote_qty or Decimal(0),
        )
        self.order_book.append(order)
        return order

    def _fill(
        self, account: Account, rules: SymbolRules, side: str, executed: Decimal, price: Decimal
    ) -> list[Fill]:
        """Move the balances fill by fill; each fill's fee in BNB while BNB lasts (if the
        account pays fees in BNB), else in the asset received."""
        if executed <= 0:
            return []
        parts = max(1, self.fills_per_order)
        chunk = (executed / parts / rules.step).to_integral_value(ROUND_DOWN) * rules.step
        sizes = [chunk] * (parts - 1) + [executed - chunk * (parts - 1)]
        balances = account.balances
        fills = []
        for qty in (s for s in sizes if s > 0):
            gross = qty * price
            received, spent = (
                (rules.quote, rules.base) if side == "SELL" else (rules.base, rules.quote)
            )
            got = gross if side == "SELL" else qty
            balances[spent] = balances.get(spent, Decimal(0)) - (qty if side == "SELL" else gross)
            asset, commission = received, got * FEE
            bnb_price = self._bnb_price(rules.quote)
            if account.pay_fees_in_bnb and bnb_price:
                in_bnb = (gross * BNB_FEE / bnb_price).quantize(Decimal("0.00000001"))
                if balances.get("BNB", Decimal(0)) >= in_bnb:
                    asset, commission = "BNB", in_bnb
            balances[received] = balances.get(received, Decimal(0)) + got
            balances[asset] = balances.get(asset, Decimal(0)) - commission
            fills.append(Fill(price, qty, commission, asset, next(self._trade_ids)))
        return fills

    def _bnb_price(self, quote: str) -> Decimal | None:
        if quote == "BNB":
            return Decimal(1)
        return self.prices.get("BNB" + quote)

    def _visible(self, order: Order) -> bool:
        return time.monotonic() >= order.visible_at

    def _get_order(self, account: Account, params: dict[str, str]) -> dict[str, Any]:
        cid = params.get("origClientOrderId")
        matches = [
            o
            for o in self.order_book
            if o.api_key == account.api_key
            and o.symbol == params.get("symbol")
            and ((cid and o.client_order_id == cid) or str(o.order_id) == params.get("orderId"))
            and self._visible(o)
        ]
        if not matches:
            raise _ApiError(400, -2013, "Order does not exist.")
        return self._order_json(matches[-1], "QUERY")

    def _window(self, order: Order, params: dict[str, str]) -> bool:
        start = int(params.get("startTime", 0) or 0)
        end = int(params.get("endTime", 0) or 0) or 1 << 62
        return start <= order.time_ms <= end

    def _all_orders(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        if "symbol" not in params:
            raise _ApiError(400, -1102, "Mandatory parameter 'symbol' was not sent.")
        return [
            self._order_json(o, "QUERY")
            for o in self.order_book
            if o.api_key == account.api_key
            and o.symbol == params["symbol"]
            and self._window(o, params)
            and self._visible(o)
        ]

    def _my_trades(self, account: Account, params: dict[str, str]) -> list[dict[str, Any]]:
        trades = []
        for order in self.order_book:
            if order.api_key != account.api_key or order.symbol != params.get("symbol"):
                continue
            if not self._window(order, params) or not self._visible(order):
                continue
            if params.get("orderId") and str(order.order_id) != params["orderId"]:
                continue
            for fill in order.fills:
                trades.append(
                    {
                        "symbol": order.symbol,
                        "id": fill.trade_id,
                        "orderId": order.order_id,
                        "orderListId": -1,
                        "price": str(fill.price),
                        "qty": str(fill.qty),
                        "quoteQty": str(fill.qty * fill.price),
                        "commission": str(fill.commission),
                        "commissionAsset": fill.commission_asset,
                        "time": order.time_ms,
                        "isBuyer": order.side == "BUY",
                        "isMaker": False,
                        "isBestMatch": True,
                    }
                )
        return trades

    @staticmethod
    def _order_json(order: Order, kind: str) -> dict[str, Any]:
        """The order as Binance answers a POST (ACK, RESULT, FULL) or a query (QUERY)."""
        payload: dict[str, Any] = {
            "symbol": order.symbol,
            "orderId": order.order_id,
            "orderListId": -1,
            "clientOrderId": order.client_order_id,
            "transactTime": order.time_ms,
        }
        if kind == "ACK":
            return payload
        payload.update(
            {
                "price": "0.00000000",
                "origQty": str(order.orig_qty),
                "executedQty": str(order.executed_qty),
                "cummulativeQuoteQty": "-1.00000000"
                if order.cost_unknown
                else str(order.quote_qty),
                "status": order.status,
                "timeInForce": "GTC",
                "type": "MARKET",
                "side": order.side,
                "workingTime": order.time_ms,
                "selfTradePreventionMode": "EXPIRE_MAKER",
                "origQuoteOrderQty": str(order.orig_quote_qty),
            }
        )
        if kind == "FULL":
            payload["fills"] = [
                {
                    "price": str(f.price),
                    "qty": str(f.qty),
                    "commission": str(f.commission),
                    "commissionAsset": f.commission_asset,
                    "tradeId": f.trade_id,
                }
                for f in order.fills
            ]
        elif kind == "QUERY":
            del payload["transactTime"]
            payload.update(
                {
                    "time": order.time_ms,
                    "updateTime": order.time_ms,
                    "isWorking": True,
                    "stopPrice": "0.00000000",
                    "icebergQty": "0.00000000",
                }
            )
        return payload

"""A fake Bybit v5 spot REST server on 127.0.0.1, signing and bodies as Bybit has them.

Shapes follow Bybit's v5 docs (https://bybit-exchange.github.io/docs/v5/, read 2026-12:
"Integration Guidance" / authentication: X-BAPI-API-KEY, X-BAPI-TIMESTAMP, X-BAPI-RECV-WINDOW,
X-BAPI-SIGN = hex HMAC-SHA256 over timestamp + key + recvWindow + (query string | JSON body),
refused with retCode 10002 outside [server - recvWindow, server + 1000 ms); "Get Instruments
Info", "Get Tickers", "Get Bybit Server Time", "Get Wallet Balance", "Get Account Info", "Get
API Key Information", "Place Order", "Get Open & Closed Orders", "Get Order History"; "Error
Codes"; "Rate Limit Rules": retCode 10006 with X-Bapi-Limit / X-Bapi-Limit-Status headers per
UID and endpoint, HTTP 403 past 600 requests per 5 s per IP) and the sample bodies in ccxt
4.5's bybit.py comments. The bot gets `BYBIT_API_URL=http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.spot_venue import Account, FakeVenue, Order, Recorded, VenueError

ORDER_PATH = "/v5/order/create"
PUBLIC = "/v5/market/"
# Per UID and second (the IP's 600 per 5 s is `ip_limit`).
LIMITS = {
    ORDER_PATH: (20, 1.0),
    "/v5/order/realtime": (10, 1.0),
    "/v5/order/history": (10, 1.0),
    "/v5/account/wallet-balance": (50, 1.0),
    "/v5/account/info": (10, 1.0),
    "/v5/user/query-api": (10, 1.0),
}
CODES = {"funds": 170131, "symbol": 170121, "size": 170136}


def bybit_sign(secret: str, timestamp: str, api_key: str, recv_window: str, payload: str) -> str:
    text = timestamp + api_key + recv_window + payload
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class FakeBybit(FakeVenue):
    order_path = ORDER_PATH
    client_id_field = "orderLinkId"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = dict(LIMITS)
        self.ip_limit = (600, 5.0)

    def default_permissions(self) -> dict[str, Any]:
        return {
            "readOnly": 0,
            "ips": ["*"],
            "permissions": {
                "ContractTrade": [],
                "Spot": ["SpotTrade"],
                "Wallet": [],
                "Options": [],
                "Derivatives": [],
                "Exchange": [],
                "Earn": [],
                "FiatP2P": [],
                "FiatBybitPay": [],
                "BlockTrade": [],
                "Affiliate": [],
                "NFT": [],
                "CopyTrading": [],
            },
        }

    # --- plumbing ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, body = request.path, await request.text()
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        payload = json.loads(body) if body else {}
        params = dict(query) | (payload if isinstance(payload, dict) else {})
        api_key = request.headers.get("X-BAPI-API-KEY")
        record = Recorded(request.method, path, api_key, 200, params)
        self.requests.append(record)
        self.limits.setdefault("*", self.ip_limit)
        if self._over_limit("*", "ip"):  # the IP's budget over every endpoint
            record.status = 403
            return web.Response(status=403, text="403, access too frequent")
        if path in LIMITS and self._over_limit(path, api_key or "ip"):
            return self._rate_limited(record, path)
        fault = self._fault_for(request.method, path)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == "5xx":
            record.status = 502
            return web.Response(status=502, text="<html>502 Bad Gateway</html>")
        if fault is not None and fault.kind == "rate":
            return self._rate_limited(record, path)
        if fault is not None and fault.kind == "timeout":
            await self._hang()
            return web.Response(status=504)
        if fault is not None and fault.kind == "code" and not fault.booked:
            record.status = fault.status
            return self._error(int(fault.code), fault.msg, fault.status)
        try:
            account = None if path.startswith(PUBLIC) else self._auth(request, body)
            result = self._route(request.method, path, params, account)
        except VenueError as error:
            record.status = error.status
            return self._error(int(error.code), error.msg, error.status)
        if (
            path == ORDER_PATH
            and fault is not None
            and fault.kind in ("timeout_after", "code", "unseen")
        ):
            self.order_book[-1].visible_at = time.monotonic() + self.lookup_delay
            if fault.kind == "timeout_after":
                await self._hang()
                return web.Response(status=504)
            if fault.kind == "code":
                record.status = fault.status
                return self._error(int(fault.code), fault.msg, fault.status)
        return web.json_response(
            {
                "retCode": 0,
                "retMsg": "OK",
                "result": result,
                "retExtInfo": {},
                "time": self.server_time_ms(),
            },
            headers=self._limit_headers(path, api_key),
        )

    def _limit_headers(self, path: str, api_key: str | None) -> dict[str, str]:
        if path not in LIMITS:
            return {}
        limit, _seconds = LIMITS[path]
        used = len(self._hits.get(f"{path}@{api_key or 'ip'}", ()))
        return {
            "X-Bapi-Limit": str(limit),
            "X-Bapi-Limit-Status": str(max(0, limit - used)),
            "X-Bapi-Limit-Reset-Timestamp": str(self.server_time_ms()),
        }

    def _rate_limited(self, record: Recorded, path: str) -> web.Response:
        response = self._error(10006, "Too many visits!", 200)
        response.headers.update(self._limit_headers(path, record.api_key))
        return response

    def _error(self, code: int, msg: str, status: int = 200) -> web.Response:
        body = {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}}
        return web.json_response(body | {"time": self.server_time_ms()}, status=status)

    def _auth(self, request: web.Request, body: str) -> Account:
        headers = request.headers
        key = headers.get("X-BAPI-API-KEY") or ""
        stamp = headers.get("X-BAPI-TIMESTAMP") or ""
        window = headers.get("X-BAPI-RECV-WINDOW") or "5000"
        account = self.accounts.get(key)
        if account is None:
            raise VenueError("10003", "API key is invalid.")
        if not stamp.isdecimal():
            raise VenueError("10002", "invalid request, please check your timestamp")
        now = self.server_time_ms()
        if not now - int(window) <= int(stamp) < now + 1000:
            raise VenueError(
                "10002",
                "invalid request, please check your server timestamp or recv_window param. "
                f"req_timestamp[{stamp}],server_timestamp[{now}],recv_window[{window}]",
            )
        payload = body if request.method == "POST" else request.query_string
        expected = bybit_sign(account.secret, stamp, key, window, payload)
        if not hmac.compare_digest(expected, headers.get("X-BAPI-SIGN") or ""):
            raise VenueError("10004", "error sign! origin_string[...]")
        return account

    # --- routes ---------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, params: dict[str, Any], account: Account | None
    ) -> dict[str, Any]:
        if path == "/v5/market/instruments-info":
            rows = [self._instrument(m) for m in self.markets.values()]
            return {"category": "spot", "list": rows, "nextPageCursor": ""}
        if path == "/v5/market/tickers":
            rows = [self._ticker(pair, price) for pair, price in self.prices.items()]
            return {"category": "spot", "list": rows}
        if path == "/v5/market/time":
            now = self.server_time_ms()
            return {"timeSecond": str(now // 1000), "timeNano": str(now * 1_000_000)}
        assert account is not None
        if path == "/v5/user/query-api":
            return self._key_info(account)
        if path == "/v5/account/info":
            return {
                "unifiedMarginStatus": 6,  # UTA 2.0 Pro
                "marginMode": "REGULAR_MARGIN",
                "isMasterTrader": False,
                "spotHedgingStatus": "OFF",
                "updatedTime": str(self.server_time_ms()),
                "dcpStatus": "OFF",
                "timeWindow": 10,
                "smpGroup": 0,
            }
        if path == "/v5/account/wallet-balance":
            return {"list": [self._wallet(account)]}
        if path == ORDER_PATH and method == "POST":
            return self._place(account, params)
        if path in ("/v5/order/realtime", "/v5/order/history"):
            return {"list": self._orders(account, params), "nextPageCursor": "", "category": "spot"}
        raise VenueError("10017", f"route {path} not found", 404)

    def _instrument(self, m: Any) -> dict[str, Any]:
        return {
            "symbol": f"{m.base}{m.quote}",
            "baseCoin": m.base,
            "quoteCoin": m.quote,
            "innovation": "0",
            "status": "Trading",
            "marginTrading": "none",
            "stTag": "0",
            "lotSizeFilter": {
                "basePrecision": _s(m.lot),
                "quotePrecision": "0.00000001",
                "minOrderQty": _s(m.min_size),
                "maxOrderQty": "100000",
                "minOrderAmt": _s(m.min_value),
                "maxOrderAmt": "2000000",
            },
            "priceFilter": {"tickSize": _s(m.tick)},
            "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
        }

    def _ticker(self, pair: tuple[str, str], price: Decimal) -> dict[str, Any]:
        p = _s(price)
        return {
            "symbol": f"{pair[0]}{pair[1]}",
            "bid1Price": p,
            "bid1Size": "1",
            "ask1Price": p,
            "ask1Size": "1",
            "lastPrice": p,
            "prevPrice24h": p,
            "price24hPcnt": "0",
            "highPrice24h": p,
            "lowPrice24h": p,
            "turnover24h": "1000",
            "volume24h": "10",
        }

    def _key_info(self, account: Account) -> dict[str, Any]:
        perms = account.permissions
        return {
            "id": str(account.uid),
            "note": "rebalance-bot",
            "apiKey": account.api_key,
            "readOnly": perms.get("readOnly", 0),
            "secret": "",
            "permissions": perms.get("permissions", {}),
            "ips": perms.get("ips", ["*"]),
            "type": 1,
            "deadlineDay": 83,
            "expiredAt": "2027-03-01T00:00:00Z",
            "createdAt": "2026-12-01T00:00:00Z",
            "unified": 0,
            "uta": 1,
            "userID": account.uid,
            "inviterID": 0,
            "vipLevel": "No VIP",
            "mktMakerLevel": "0",
            "affiliateID": 0,
            "isMaster": True,
            "parentUid": "0",
            "kycLevel": "LEVEL_1",
            "kycRegion": "UKR",
        }

    def _wallet(self, account: Account) -> dict[str, Any]:
        coins = [
            {
                "coin": coin,
                "equity": _s(v),
                "usdValue": "0",
                "walletBalance": _s(v),
                "locked": "0",
                "borrowAmount": "0",
                "accruedInterest": "0",
                "totalOrderIM": "0",
                "totalPositionIM": "0",
                "unrealisedPnl": "0",
                "cumRealisedPnl": "0",
                "marginCollateral": True,
                "collateralSwitch": True,
            }
            for coin, v in account.balances.items()
            if v
        ]
        return {"accountType": "UNIFIED", "totalEquity": "0", "coin": coins}

    def _place(self, account: Account, params: dict[str, Any]) -> dict[str, Any]:
        if str(account.permissions.get("readOnly")) == "1":
            raise VenueError("10005", "Permission denied, please check your API key permissions.")
        cid = str(params.get("orderLinkId") or "")
        if len(cid) > 36:
            raise VenueError("10001", "orderLinkId is too long")
        symbol = str(params.get("symbol", ""))
        pair = next(((b, q) for b, q in self.markets if b + q == symbol), None)
        if pair is None or params.get("category") != "spot":
            raise VenueError("170121", "Invalid symbol.")
        market = self.markets[pair]
        side = str(params.get("side", "")).lower()
        quote_sized = side == "buy" and params.get("marketUnit", "quoteCoin") == "quoteCoin"
        size = Decimal(str(params.get("qty", "0")))
        try:
            if str(params.get("orderType")) != "Market":
                raise VenueError("size", "Order type invalid")
            if quote_sized and size < market.min_value:
                raise VenueError("170140", "Order value lower than the minimum.")
            if not quote_sized and (size < market.min_size or size % market.lot):
                raise VenueError("size", "Order quantity lower than the minimum.")
            order = self._fill(account, market, side, size, quote_sized, cid)
        except VenueError as error:
            raise VenueError(str(CODES.get(error.code, error.code)), error.msg) from None
        return {"orderId": order.order_id, "orderLinkId": cid}

    def _orders(self, account: Account, params: dict[str, Any]) -> list[dict[str, Any]]:
        cid = params.get("orderLinkId")
        if cid:
            order = self._lookup(account.api_key, str(cid))
            return [self._order(order)] if order is not None else []
        symbol = str(params.get("symbol", ""))
        pair = next(((b, q) for b, q in self.markets if b + q == symbol), ("", ""))
        since, until = int(params.get("startTime", 0)), int(params.get("endTime", 2**62))
        return [self._order(o) for o in self._window(account.api_key, pair, since, until)]

    def _order(self, order: Order) -> dict[str, Any]:
        return {
            "orderId": order.order_id,
            "orderLinkId": order.client_id,
            "blockTradeId": "",
            "symbol": order.symbol[0] + order.symbol[1],
            "price": "0",
            "qty": _s(order.requested),
            "side": "Buy" if order.side == "buy" else "Sell",
            "isLeverage": "0",
            "positionIdx": 0,
            "orderStatus": "Filled",
            "cancelType": "UNKNOWN",
            "rejectReason": "EC_NoError",
            "avgPrice": _s(order.average),
            "leavesQty": "0",
            "leavesValue": "0",
            "cumExecQty": _s(order.filled),
            "cumExecValue": _s(order.value),
            "cumExecFee": _s(order.fee),
            "cumFeeDetail": {order.fee_currency: _s(order.fee)},
            "timeInForce": "IOC",
            "orderType": "Market",
            "stopOrderType": "",
            "marketUnit": "quoteCoin" if order.quote_sized else "baseCoin",
            "triggerPrice": "0",
            "takeProfit": "0",
            "stopLoss": "0",
            "reduceOnly": False,
            "closeOnTrigger": False,
            "smpType": "None",
            "createdTime": str(order.created_ms),
            "updatedTime": str(order.created_ms),
        }

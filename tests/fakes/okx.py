"""A fake OKX v5 spot REST server on 127.0.0.1, signing and bodies as OKX has them.

Shapes follow OKX's API docs (https://www.okx.com/docs-v5/en/, read 2026-12: "REST
Authentication": OK-ACCESS-KEY / -SIGN / -TIMESTAMP / -PASSPHRASE, the sign is base64 of
HMAC-SHA256 over timestamp + method + requestPath (with its query) + body, the timestamp an
ISO-8601 UTC time within 30 s of the server's; "Get instruments", "Get tickers", "Get
system time", "Get balance", "Get account configuration", "Place order", "Get order
details", "Get order history (last 7 days)"; "Error Code") and the sample bodies in ccxt
4.5's okx.py comments. The bot gets `OKX_API_URL=http://127.0.0.1:PORT`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from tests.fakes.spot_venue import Account, FakeVenue, Order, Recorded, VenueError

PRIVATE = ("/api/v5/account/", "/api/v5/trade/", "/api/v5/asset/")
ORDER_PATH = "/api/v5/trade/order"
# Each endpoint's documented limit (requests per 2 s), per user id for private endpoints.
LIMITS = {
    "/api/v5/public/instruments": (20, 2.0),
    "/api/v5/market/tickers": (20, 2.0),
    "/api/v5/public/time": (10, 2.0),
    "/api/v5/account/balance": (10, 2.0),
    "/api/v5/account/config": (5, 2.0),
    ORDER_PATH: (60, 2.0),
    "/api/v5/trade/orders-history": (40, 2.0),
}
# Our error kinds in OKX's codes (sCode for an order, code otherwise) and HTTP statuses.
CODES = {"funds": ("51008", 200), "symbol": ("51001", 200), "size": ("51020", 200)}


def okx_sign(secret: str, timestamp: str, method: str, path: str, body: str) -> str:
    digest = hmac.new(
        secret.encode(), (timestamp + method + path + body).encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def _s(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class FakeOkx(FakeVenue):
    order_path = ORDER_PATH
    client_id_field = "clOrdId"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.limits = dict(LIMITS)

    def default_permissions(self) -> dict[str, Any]:
        return {"perm": "read_only,trade", "ip": ""}

    # --- plumbing ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path, body = request.path, await request.text()
        query = dict(parse_qsl(request.query_string, keep_blank_values=True))
        payload = json.loads(body) if body else {}
        params = dict(query) | (payload if isinstance(payload, dict) else {})
        api_key = request.headers.get("OK-ACCESS-KEY")
        record = Recorded(request.method, path, api_key, 200, params)
        self.requests.append(record)
        if self._over_limit(path, api_key or "ip"):
            record.status = 429
            return self._body({"code": "50011", "msg": "Too Many Requests", "data": []}, 429)
        fault = self._fault_for(request.method, path)
        if fault is not None and fault.kind == "latency":
            await asyncio.sleep(fault.delay)
            fault = None
        if fault is not None and fault.kind == "5xx":
            record.status = 502
            return web.Response(status=502, text="<html>502 Bad Gateway</html>")
        if fault is not None and fault.kind == "rate":
            record.status = 429
            return self._body({"code": "50011", "msg": "Too Many Requests", "data": []}, 429)
        if fault is not None and fault.kind == "timeout":
            await self._hang()
            return web.Response(status=504)
        if fault is not None and fault.kind == "code" and not fault.booked:
            record.status = fault.status
            return self._body({"code": fault.code, "msg": fault.msg, "data": []}, fault.status)
        try:
            account = None
            if path.startswith(PRIVATE):
                account = self._auth(request, body)
            data = self._route(request.method, path, params, account)
        except VenueError as error:
            record.status = error.status
            return self._body({"code": error.code, "msg": error.msg, "data": []}, error.status)
        booked = path == ORDER_PATH and request.method == "POST" and data[0].get("sCode") == "0"
        if booked and fault is not None and fault.kind in ("timeout_after", "code", "unseen"):
            self.order_book[-1].visible_at = time.monotonic() + self.lookup_delay
            if fault.kind == "timeout_after":
                await self._hang()
                return web.Response(status=504)
            if fault.kind == "code":
                record.status = fault.status
                body = {"code": fault.code, "msg": fault.msg, "data": []}
                return self._body(body, fault.status)
        code = "0" if all(d.get("sCode", "0") == "0" for d in data) else "1"
        msg = "" if code == "0" else "All operations failed"
        return self._body({"code": code, "msg": msg, "data": data})

    def _body(self, payload: dict[str, Any], status: int = 200) -> web.Response:
        return web.json_response(payload, status=status)

    def _auth(self, request: web.Request, body: str) -> Account:
        headers = request.headers
        key, stamp = headers.get("OK-ACCESS-KEY"), headers.get("OK-ACCESS-TIMESTAMP")
        sign, phrase = headers.get("OK-ACCESS-SIGN"), headers.get("OK-ACCESS-PASSPHRASE")
        if not key:
            raise VenueError("50103", 'Request header "OK-ACCESS-KEY" cannot be empty.', 401)
        if not phrase:
            raise VenueError("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty.', 401)
        if not stamp or not sign:
            raise VenueError("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty.', 401)
        account = self.accounts.get(key)
        if account is None:
            raise VenueError("50111", "Invalid OK-ACCESS-KEY.", 401)
        if phrase != account.passphrase:
            raise VenueError("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect.', 401)
        try:
            sent = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000
        except ValueError:
            raise VenueError("50112", "Invalid OK-ACCESS-TIMESTAMP.", 401) from None
        if abs(sent - self.server_time_ms()) > 30_000:
            raise VenueError("50102", "Timestamp request expired.", 401)
        target = request.path + (f"?{request.query_string}" if request.query_string else "")
        expected = okx_sign(account.secret, stamp, request.method, target, body)
        if not hmac.compare_digest(expected, sign):
            raise VenueError("50113", "Invalid Sign.", 401)
        return account

    # --- routes ---------------------------------------------------------------------------

    def _route(
        self, method: str, path: str, params: dict[str, Any], account: Account | None
    ) -> list[dict[str, Any]]:
        if path == "/api/v5/public/instruments":
            return [self._instrument(m) for m in self.markets.values()]
        if path == "/api/v5/market/tickers":
            return [self._ticker(pair, price) for pair, price in self.prices.items()]
        if path == "/api/v5/public/time":
            return [{"ts": str(self.server_time_ms())}]
        assert account is not None
        if path == "/api/v5/account/balance":
            return [self._balance(account)]
        if path == "/api/v5/account/config":
            return [self._config(account)]
        if path == ORDER_PATH and method == "POST":
            return [self._place(account, params)]
        if path == ORDER_PATH:
            order = self._lookup(account.api_key, str(params.get("clOrdId", "")))
            if order is None:
                raise VenueError("51603", "Order does not exist")
            return [self._order(order)]
        if path == "/api/v5/trade/orders-history":
            base, quote = str(params.get("instId", "-")).split("-")
            since, until = int(params.get("begin", 0)), int(params.get("end", 2**62))
            return [
                self._order(o) for o in self._window(account.api_key, (base, quote), since, until)
            ]
        raise VenueError("50014", f"route {path} not found", 404)

    def _instrument(self, m: Any) -> dict[str, Any]:
        return {
            "instType": "SPOT",
            "instId": f"{m.base}-{m.quote}",
            "uly": "",
            "instFamily": "",
            "baseCcy": m.base,
            "quoteCcy": m.quote,
            "settleCcy": "",
            "ctVal": "",
            "ctMult": "",
            "ctValCcy": "",
            "optType": "",
            "stk": "",
            "listTime": "1606468572000",
            "expTime": "",
            "lever": "",
            "tickSz": _s(m.tick),
            "lotSz": _s(m.lot),
            "minSz": _s(m.min_size),
            "ctType": "",
            "alias": "",
            "state": "live",
            "maxLmtSz": "9999999999",
            "maxMktSz": "1000000",
            "maxLmtAmt": "20000000",
            "maxMktAmt": "1000000",
            "ruleType": "normal",
            "category": "1",
        }

    def _ticker(self, pair: tuple[str, str], price: Decimal) -> dict[str, Any]:
        p = _s(price)
        return {
            "instType": "SPOT",
            "instId": f"{pair[0]}-{pair[1]}",
            "last": p,
            "lastSz": "0.1",
            "askPx": p,
            "askSz": "1",
            "bidPx": p,
            "bidSz": "1",
            "open24h": p,
            "high24h": p,
            "low24h": p,
            "volCcy24h": "1000",
            "vol24h": "10",
            "sodUtc0": p,
            "sodUtc8": p,
            "ts": str(self.server_time_ms()),
        }

    def _balance(self, account: Account) -> dict[str, Any]:
        details = [
            {
                "ccy": ccy,
                "availBal": _s(v),
                "cashBal": _s(v),
                "eq": _s(v),
                "frozenBal": "0",
                "ordFrozen": "0",
                "uTime": str(self.server_time_ms()),
            }
            for ccy, v in account.balances.items()
            if v
        ]
        return {
            "adjEq": "",
            "details": details,
            "totalEq": "0",
            "uTime": str(self.server_time_ms()),
        }

    def _config(self, account: Account) -> dict[str, Any]:
        return {
            "uid": str(account.uid),
            "mainUid": str(account.uid),
            "acctLv": "1",  # spot mode
            "posMode": "net_mode",
            "autoLoan": False,
            "greeksType": "PA",
            "level": "Lv1",
            "levelTmp": "",
            "ctIsoMode": "automatic",
            "mgnIsoMode": "automatic",
            "roleType": "0",
            "spotRoleType": "0",
            "opAuth": "0",
            "kycLv": "2",
            "label": "rebalance-bot",
            "ip": account.permissions.get("ip", ""),
            "perm": account.permissions.get("perm", "read_only,trade"),
        }

    def _place(self, account: Account, params: dict[str, Any]) -> dict[str, Any]:
        cid = str(params.get("clOrdId") or "")
        answer = {"clOrdId": cid, "ordId": "", "tag": "", "ts": str(self.server_time_ms())}
        if "trade" not in str(account.permissions.get("perm", "")):
            return answer | {"sCode": "50120", "sMsg": "API key doesn't have permission"}
        if len(cid) > 32 or not cid.isalnum():
            return answer | {"sCode": "51000", "sMsg": "Parameter clOrdId error"}
        try:
            base, quote = str(params["instId"]).split("-")
            market = self._symbol(base, quote)
            side = str(params["side"])
            quote_sized = side == "buy" and params.get("tgtCcy") == "quote_ccy"
            size = Decimal(str(params["sz"]))
            if params.get("ordType") != "market" or params.get("tdMode") != "cash":
                raise VenueError("size", "Parameter ordType error")
            if not quote_sized and (size < market.min_size or size % market.lot):
                raise VenueError("size", "Order amount should be greater than the min amount")
            order = self._fill(account, market, side, size, quote_sized, cid)
        except VenueError as error:
            code = CODES.get(error.code, (error.code, 200))[0]
            return answer | {"sCode": code, "sMsg": error.msg}
        return answer | {"ordId": order.order_id, "sCode": "0", "sMsg": "Order placed"}

    def _order(self, order: Order) -> dict[str, Any]:
        return {
            "instType": "SPOT",
            "instId": f"{order.symbol[0]}-{order.symbol[1]}",
            "tgtCcy": "quote_ccy" if order.quote_sized else "base_ccy",
            "ccy": "",
            "ordId": order.order_id,
            "clOrdId": order.client_id,
            "tag": "",
            "px": "",
            "sz": _s(order.requested),
            "pnl": "0",
            "ordType": "market",
            "side": order.side,
            "posSide": "net",
            "tdMode": "cash",
            "accFillSz": _s(order.filled),
            "fillPx": _s(order.average),
            "fillSz": _s(order.filled),
            "avgPx": _s(order.average),
            "state": "filled",
            "lever": "",
            "feeCcy": order.fee_currency,
            "fee": _s(-order.fee),
            "rebateCcy": order.symbol[1],
            "rebate": "0",
            "category": "normal",
            "reduceOnly": "false",
            "cancelSource": "",
            "uTime": str(order.created_ms),
            "cTime": str(order.created_ms),
        }

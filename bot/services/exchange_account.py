"""One user's exchange account: balances, orders placed once and looked up, never resent.

An order whose answer is lost (a timeout, a 5xx, Binance's -1001/-1006/-1007/-1008) may still
execute, and Binance keeps client order ids unique among OPEN orders only: a filled MARKET
order's id is accepted again. So after an unknown outcome the order is looked up, and if the
lookups miss it stays unknown for reconciliation; it is never sent again. Only a definite
refusal before processing (429/418, a -1021 timestamp refusal) may be followed by a resend.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from bot.errors import (
    DuplicateOrder,
    ExchangeError,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    TemporaryExchangeError,
)
from bot.services.venues import bybit_fill, okx_fill, venue

if TYPE_CHECKING:
    from bot.services.exchange import ExchangeGateway

log = logging.getLogger(__name__)

RATE_LIMIT_ATTEMPTS = 3  # an order refused with 429 was not placed: it may be sent again
SETTLE_DELAYS = (0.5, 1.0, 2.0)  # lookups after an unknown outcome, within the run


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
    status: str  # ccxt's: closed | open | canceled | expired | rejected
    amount: Decimal
    filled: Decimal
    cost: Decimal | None  # None: the exchange says the data is not available
    average: Decimal | None
    fees: dict[str, Decimal] | None  # per currency; None: not reported (a looked-up order)
    timestamp_ms: int | None = None


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else Decimal(0)


def _fees_from_fills(fills: list[dict[str, Any]]) -> dict[str, Decimal]:
    fees: dict[str, Decimal] = {}
    for fill in fills:
        asset = fill.get("commissionAsset")
        if asset:
            fees[asset] = fees.get(asset, Decimal(0)) + _dec(fill.get("commission"))
    return fees


def parse_order(
    raw: dict[str, Any], cid: str, symbol: str, exchange_id: str = "binance"
) -> OrderResult:
    """ccxt's order, read from the exchange's own strings where it has them (exact), with the
    fees summed per currency (Binance pays in BNB until it runs out, then in the asset got)."""
    info: dict[str, Any] = raw["info"] if isinstance(raw.get("info"), dict) else {}
    if exchange_id in ("okx", "bybit"):
        return _parse_venue_order(raw, info, cid, symbol, exchange_id)
    filled = _dec(info.get("executedQty", raw.get("filled")))
    amount = _dec(info.get("origQty", raw.get("amount")))
    raw_cost = info.get("cummulativeQuoteQty", raw.get("cost"))
    cost: Decimal | None = _dec(raw_cost) if raw_cost is not None else None
    if cost is not None and cost < 0:  # Binance: "a value below 0 means not available"
        cost = None
    fees: dict[str, Decimal] | None
    if isinstance(info.get("fills"), list):
        fees = _fees_from_fills(info["fills"]) if info["fills"] or filled == 0 else None
    elif raw.get("fees"):
        fees = {}
        for fee in raw["fees"]:
            if fee and fee.get("currency") and fee.get("cost") is not None:
                fees[fee["currency"]] = fees.get(fee["currency"], Decimal(0)) + _dec(fee["cost"])
    else:
        fees = {} if filled == 0 else None
    average = None
    if cost is not None and filled > 0:
        average = cost / filled
    return OrderResult(
        client_order_id=raw.get("clientOrderId") or cid,
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        symbol=raw.get("symbol") or symbol,
        side=raw.get("side") or "",
        status=raw.get("status") or "open",
        amount=amount,
        filled=filled,
        cost=cost,
        average=average,
        fees=fees,
        timestamp_ms=raw.get("timestamp"),
    )


def _parse_venue_order(
    raw: dict[str, Any], info: dict[str, Any], cid: str, symbol: str, exchange_id: str
) -> OrderResult:
    """OKX's and Bybit's orders from their own fields (see venues)."""
    base, _, quote = (raw.get("symbol") or symbol).partition("/")
    fill = okx_fill(info) if exchange_id == "okx" else bybit_fill(info, base, quote)
    # A placement's answer only names the order: "open" and nothing filled, so it is looked up.
    status = "open" if fill.acknowledged_only else (raw.get("status") or "open")
    average = fill.cost / fill.filled if fill.cost is not None and fill.filled > 0 else None
    return OrderResult(
        client_order_id=raw.get("clientOrderId") or cid,
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        symbol=raw.get("symbol") or symbol,
        side=raw.get("side") or "",
        status=status,
        amount=fill.amount if fill.amount is not None else Decimal(0),
        filled=fill.filled,
        cost=fill.cost,
        average=average,
        fees=fill.fees,
        timestamp_ms=raw.get("timestamp"),
    )


class PrivateAccount:
    """One user's account through a client that reuses the hub's markets."""

    def __init__(
        self, gateway: ExchangeGateway, client: Any, *, budget_account: str | None = None
    ) -> None:
        self._gateway = gateway
        self._client = client
        self._account = budget_account  # whose order count (and per-user limits) it spends
        self._exchange = gateway.exchange_id
        self._venue = venue(gateway.exchange_id)

    async def fetch_balances(self) -> Balances:
        """Free and total balances. Binance: getUserAsset, weight 5 on that SAPI endpoint's
        own budget (12,000 a minute), instead of /api/v3/account's 20 of the /api weight every
        user shares; other exchanges: ccxt's fetch_balance."""
        if self._gateway.exchange_id == "binance":
            rows = await self._gateway.call(self._client, "sapiv3_post_asset_getuserasset")
            return user_assets(rows, self._client.safe_currency_code)
        raw = await self._gateway.call(self._client, "fetch_balance", account=self._account)
        free = {a: _dec(v) for a, v in (raw.get("free") or {}).items() if v}
        total = {a: _dec(v) for a, v in (raw.get("total") or {}).items() if v}
        return Balances(free, total)

    async def market_sell(self, symbol: str, amount: Decimal, client_order_id: str) -> OrderResult:
        # No price: ccxt would turn amount*price into quoteOrderQty, even for sells. Amounts go
        # as exact strings: a float would let ccxt's truncation round 9.95 down to 9.94.
        return await self._place(
            client_order_id, symbol, "create_order", symbol, "market", "sell", _text(amount)
        )

    async def market_buy_cost(
        self, symbol: str, cost: Decimal, client_order_id: str
    ) -> OrderResult:
        return await self._place(
            client_order_id, symbol, "create_market_buy_order_with_cost", symbol, _text(cost)
        )

    async def _place(self, cid: str, symbol: str, method: str, *args: Any) -> OrderResult:
        """Send once. Refused before processing (429/418): wait and send again. Outcome
        unknown: look it up a few times; if it stays unseen, raise OutcomeUnknown and let
        reconciliation resolve it. Never a blind resend."""
        params = {self._venue.client_id_param: cid}
        for attempt in range(1, RATE_LIMIT_ATTEMPTS + 1):
            try:
                raw = await self._gateway.call(
                    self._client, method, *args, params=params, retry=False, account=self._account
                )
            except RateLimited:
                if attempt == RATE_LIMIT_ATTEMPTS:
                    raise  # never placed; the limiter already paused everyone
                continue
            except DuplicateOrder as error:  # an open order has this id: it exists
                found = await self.settle(symbol, cid)
                if found is not None:
                    return found
                raise OutcomeUnknown("order id in use but the order is not visible") from error
            except OutcomeUnknown:
                found = await self.settle(symbol, cid)
                if found is not None:
                    return found
                raise
            result = parse_order(raw, cid, symbol, self._exchange)
            if result.status == "open" and result.filled == 0:
                # An ACK, or a MARKET order not yet matched: its fill is known by a lookup.
                found = await self.settle(symbol, cid)
                if found is not None:
                    return found
                if self._exchange in ("okx", "bybit"):
                    # Every OKX and Bybit placement is only an ACK: accepted, fills unseen.
                    # Unknown, so reconciliation keeps looking; "open, nothing filled" would
                    # be believed for good.
                    raise OutcomeUnknown("order accepted; its fills are not visible yet")
                return result
            return result
        raise RateLimited("order rate limited")  # pragma: no cover - the loop raises

    async def settle(self, symbol: str, cid: str) -> OrderResult | None:
        """Look an order up a few times (it may take a moment to be visible); None if unseen."""
        for delay in SETTLE_DELAYS:
            await asyncio.sleep(delay)
            try:
                found = await self.fetch_order(symbol, cid)
            except TemporaryExchangeError:
                continue
            if found is not None:
                return found
        return None

    async def fetch_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """The order with this client id, or None when the exchange does not know it (yet:
        right after a lost answer a miss proves nothing). Fees come from its trades."""
        if self._exchange == "bybit":
            return await self._bybit_order(symbol, client_order_id)
        lookup = "clOrdId" if self._exchange == "okx" else "origClientOrderId"
        try:
            raw = await self._gateway.call(
                self._client,
                "fetch_order",
                None,
                symbol,
                params={lookup: client_order_id},
                account=self._account,
            )
        except OrderNotFound:
            return None
        result = parse_order(raw, client_order_id, symbol, self._exchange)
        if self._exchange != "binance":
            return result  # OKX's order carries its fee
        if result.fees is None and result.filled > 0 and result.exchange_order_id:
            result = await self._with_trade_fees(result)
        return result

    async def _bybit_order(self, symbol: str, client_order_id: str) -> OrderResult | None:
        """Bybit: recent orders (any status) by orderLinkId, then the order history; ccxt's
        fetch_order refuses unified accounts, so the two endpoints are read directly."""
        market = self._client.market(symbol)
        request = {"category": "spot", "symbol": market["id"], "orderLinkId": client_order_id}
        for method in ("private_get_v5_order_realtime", "private_get_v5_order_history"):
            answer = await self._gateway.call(self._client, method, request, account=self._account)
            rows = ((answer or {}).get("result") or {}).get("list") or []
            for row in rows:
                if isinstance(row, dict) and row.get("orderLinkId") == client_order_id:
                    raw = self._client.parse_order(row, market)
                    return parse_order(raw, client_order_id, symbol, self._exchange)
        return None

    async def _with_trade_fees(self, result: OrderResult) -> OrderResult:
        """A looked-up order carries no commissions; its trades do (myTrades by orderId)."""
        from dataclasses import replace

        try:
            trades = await self._gateway.call(
                self._client,
                "fetch_my_trades",
                result.symbol,
                params={"orderId": result.exchange_order_id},
            )
        except ExchangeError as error:
            log.info("fees of order %s not read: %s", result.client_order_id, type(error).__name__)
            return result
        fills = [
            t.get("info") or {}
            for t in trades
            if str(t.get("order") or (t.get("info") or {}).get("orderId"))
            == result.exchange_order_id
        ]
        return replace(result, fees=_fees_from_fills(fills))

    async def orders_between(self, symbol: str, since_ms: int, until_ms: int) -> list[OrderResult]:
        """Every order of the account on `symbol` in a time window (allOrders): the last word
        on whether an order that lookups keep missing was ever placed."""
        raw = await self._gateway.call(
            self._client,
            "fetch_orders",
            symbol,
            since_ms,
            None,
            params={"endTime": until_ms},
        )
        return [parse_order(o, o.get("clientOrderId") or "", symbol) for o in raw]

    async def _venue_orders_between(
        self, symbol: str, since_ms: int, until_ms: int
    ) -> list[OrderResult]:
        market = self._client.market(symbol)
        if self._exchange == "okx":
            method = "private_get_trade_orders_history"
            request: dict[str, Any] = {
                "instType": "SPOT",
                "instId": market["id"],
                "begin": str(since_ms),
                "end": str(until_ms),
            }
        else:
            method = "private_get_v5_order_history"
            request = {
                "category": "spot",
                "symbol": market["id"],
                "startTime": str(since_ms),
                "endTime": str(until_ms),
            }
        answer = await self._gateway.call(self._client, method, request, account=self._account)
        body = answer or {}
        rows = (
            body.get("data") if self._exchange == "okx" else (body.get("result") or {}).get("list")
        )
        found = []
        for row in rows or []:
            raw = self._client.parse_order(row, market)
            found.append(parse_order(raw, raw.get("clientOrderId") or "", symbol, self._exchange))
        return found

    async def key_permissions(self) -> dict[str, Any]:
        """The key's own description: OKX's account config (`perm`, `ip`), Bybit's API key
        information (`readOnly`, `permissions`, `ips`)."""
        if self._exchange == "okx":
            answer = await self._gateway.call(
                self._client, "private_get_account_config", account=self._account
            )
            data = (answer or {}).get("data") or [{}]
            return dict(data[0] or {})
        answer = await self._gateway.call(
            self._client, "private_get_v5_user_query_api", account=self._account
        )
        return dict((answer or {}).get("result") or {})

    async def api_restrictions(self) -> dict[str, Any]:
        result = await self._gateway.call(self._client, "sapi_get_account_apirestrictions")
        return dict(result or {})


def user_assets(rows: Any, code: Callable[[str], str] = str) -> Balances:
    """Binance's getUserAsset answer: positive balances only, amounts as strings; free is what
    a plan may sell, locked (open orders) and freeze stay out of reach. `code` turns the
    exchange's asset id into ccxt's common code, as the markets are named."""
    free: dict[str, Decimal] = {}
    total: dict[str, Decimal] = {}
    for row in rows if isinstance(rows, list) else []:
        asset_id = row.get("asset") if isinstance(row, dict) else None
        if not asset_id:
            continue
        asset = code(str(asset_id))
        available = _dec(row.get("free"))
        held = available + _dec(row.get("locked")) + _dec(row.get("freeze"))
        if available > 0:
            free[asset] = available
        if held > 0:
            total[asset] = held
    return Balances(free, total)


def _text(value: Decimal) -> str:
    return format(value, "f")

"""What differs between the spot exchanges we offer: ccxt options, client ids, order fields.

Binance, OKX and Bybit all go through ccxt, but each names the client order id its own way,
allows it its own alphabet, sends fills in its own fields and needs its own options so that
`load_markets` stays one request for spot only. This module holds those differences; the
gateway, the account and the fakes read them from here.

Sources (read 2026-12): ccxt 4.5 `python/ccxt/async_support/okx.py` (create_order_request,
create_market_buy_order_with_cost sets `tgtCcy=quote_ccy`, fetch_order by `clOrdId`, sign()
injects ccxt's broker id when `clOrdId` is missing) and `bybit.py` (create_order_request sets
`marketUnit=quoteCoin` for a spot market buy with a cost, `orderLinkId` from `clientOrderId`,
fetch_order refuses unified accounts without `acknowledged`); OKX "Place order" (clOrdId: "a
combination of case-sensitive alphanumerics, all numbers, or all letters of up to 32
characters") and "Get order details" (https://www.okx.com/docs-v5/en/#order-book-trading-trade);
Bybit "Place Order" (orderLinkId: up to 36 characters of numbers, letters, `-` and `_`) and
"Get Open & Closed Orders" / "Get Order History" (https://bybit-exchange.github.io/docs/v5/order/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

BINANCE_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    "fetchMargins": False,
    "fetchCurrencies": False,
}
OKX_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
    # One order per request on /trade/order (ccxt's default wraps it in /trade/batch-orders):
    # its answer is the order's own sCode, and its limit is the one documented per instrument.
    "createOrder": "privatePostTradeOrder",
}
BYBIT_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "fetchMarkets": {"types": ["spot"]},
}

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


@dataclass(frozen=True, slots=True)
class Venue:
    id: str
    name: str
    url_setting: str  # the Settings field with the REST base URL
    client_id_param: str  # the order parameter carrying our client order id
    client_id_max: int
    alphanumeric_ids: bool  # no `-` in client ids (OKX)
    needs_passphrase: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    price_method: str = "fetch_tickers"  # one request that prices every spot symbol
    price_key: str = "last"


VENUES: dict[str, Venue] = {
    "binance": Venue(
        "binance",
        "Binance",
        "binance_api_url",
        "newClientOrderId",
        36,
        False,
        options=BINANCE_OPTIONS,
        price_method="fetch_last_prices",
        price_key="price",
    ),
    "okx": Venue(
        "okx", "OKX", "okx_api_url", "clOrdId", 32, True, needs_passphrase=True, options=OKX_OPTIONS
    ),
    "bybit": Venue(
        "bybit", "Bybit", "bybit_api_url", "orderLinkId", 36, False, options=BYBIT_OPTIONS
    ),
}
OFFERED = tuple(VENUES)  # the exchanges /keys offers, in the order its buttons show them


def venue(exchange_id: str) -> Venue:
    """The venue of `exchange_id`; an exchange we have not described is treated like Binance's
    shape with ccxt's defaults (nothing offers it, but old rows must still load)."""
    found = VENUES.get(exchange_id)
    if found is not None:
        return found
    return Venue(exchange_id, exchange_id.capitalize(), "", "clientOrderId", 32, True)


def client_order_id(exchange_id: str, salt: str, run_id: int, leg_id: str) -> str:
    """`rb<salt><run>-<leg>` within the exchange's alphabet and length. OKX takes letters and
    digits only: the `-` goes, which stays unambiguous because the salt has a fixed length,
    the run is all digits and every leg id starts with a letter (`s1`, `b2`, `r2s1`)."""
    text = f"rb{salt}{run_id}-{leg_id}"
    spec = venue(exchange_id)
    if spec.alphanumeric_ids:
        text = _NOT_ALNUM.sub("", text)
    return text[: spec.client_id_max]


def _dec(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


@dataclass(frozen=True, slots=True)
class VenueFill:
    """An order's amounts as the exchange wrote them (exact strings, not ccxt's floats)."""

    amount: Decimal | None
    filled: Decimal
    cost: Decimal | None
    fees: dict[str, Decimal] | None
    acknowledged_only: bool  # the placement's answer names the order but says nothing of fills


def okx_fill(info: dict[str, Any]) -> VenueFill:
    """OKX order fields: `accFillSz` base filled, `avgPx`, `sz` (in the quote when
    `tgtCcy=quote_ccy`), `fee` negative for a charge in `feeCcy` (a rebate is positive).
    A place-order answer carries only ordId/clOrdId/sCode."""
    if "state" not in info:
        return VenueFill(None, Decimal(0), None, None, acknowledged_only=True)
    filled = _dec(info.get("accFillSz")) or Decimal(0)
    average = _dec(info.get("avgPx"))
    cost = filled * average if average is not None else (Decimal(0) if filled == 0 else None)
    quote_sized = info.get("tgtCcy") == "quote_ccy"
    amount = filled if quote_sized else _dec(info.get("sz"))
    fees: dict[str, Decimal] = {}
    fee, currency = _dec(info.get("fee")), info.get("feeCcy")
    if fee and currency:
        fees[str(currency)] = -fee
    return VenueFill(amount, filled, cost, fees, acknowledged_only=False)


def bybit_fill(info: dict[str, Any], base: str, quote: str) -> VenueFill:
    """Bybit order fields: `cumExecQty` base filled, `cumExecValue` quote spent or got,
    `qty` (in the quote for a market buy with `marketUnit=quoteCoin`), fees per coin in
    `cumFeeDetail`, else `cumExecFee` in the coin received (base on a buy, quote on a sell).
    A create-order answer carries only orderId/orderLinkId."""
    if "orderStatus" not in info:
        return VenueFill(None, Decimal(0), None, None, acknowledged_only=True)
    filled = _dec(info.get("cumExecQty")) or Decimal(0)
    cost = _dec(info.get("cumExecValue"))
    buy = str(info.get("side", "")).lower() == "buy"
    quote_sized = info.get("marketUnit") == "quoteCoin" or (
        buy and str(info.get("orderType", "")).lower() == "market" and not info.get("marketUnit")
    )
    amount = filled if quote_sized else _dec(info.get("qty"))
    fees: dict[str, Decimal] = {}
    detail = info.get("cumFeeDetail")
    if isinstance(detail, dict) and detail:
        for coin, value in detail.items():
            amount_fee = _dec(value)
            if amount_fee:
                fees[str(coin)] = fees.get(str(coin), Decimal(0)) + amount_fee
    else:
        fee = _dec(info.get("cumExecFee"))
        if fee:
            fees[base if buy else quote] = fee
    return VenueFill(amount, filled, cost, fees, acknowledged_only=False)

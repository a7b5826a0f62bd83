"""Binance's spot order rules, written from its docs, independent of the bot's own planner.

The fake exchange enforces these on every order, and the replay tests check the planner's
legs against them over every real USDT symbol: if the bot and this module disagree, one of
them misreads Binance (docs: filters.md, rest-api.md "New order", errors.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

ZERO = Decimal(0)


class Reject(Exception):
    """An order Binance refuses before it executes (HTTP 400 with a code)."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def _dec(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


@dataclass(frozen=True)
class SymbolRules:
    """One symbol's exchangeInfo entry as the matching engine applies it."""

    symbol: str
    base: str
    quote: str
    raw: dict[str, Any]
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    apply_min_to_market: bool
    max_notional: Decimal
    apply_max_to_market: bool
    base_precision: int
    quote_precision: int
    quote_order_qty_allowed: bool
    trading: bool

    @classmethod
    def from_exchange_info(cls, raw: dict[str, Any]) -> SymbolRules:
        filters = {f["filterType"]: f for f in raw.get("filters", [])}
        price = filters.get("PRICE_FILTER", {})
        lot = filters.get("LOT_SIZE", {})
        market = filters.get("MARKET_LOT_SIZE", {})
        notional = filters.get("NOTIONAL")
        legacy = filters.get("MIN_NOTIONAL")
        if notional is not None:
            min_notional = _dec(notional.get("minNotional"))
            apply_min = bool(notional.get("applyMinToMarket", True))
            max_notional = _dec(notional.get("maxNotional"))
            apply_max = bool(notional.get("applyMaxToMarket", False))
        else:
            min_notional = _dec((legacy or {}).get("minNotional"))
            apply_min = bool((legacy or {}).get("applyToMarket", True))
            max_notional, apply_max = ZERO, False
        return cls(
            symbol=raw["symbol"],
            base=raw["baseAsset"],
            quote=raw["quoteAsset"],
            raw=raw,
            tick=_dec(price.get("tickSize")),
            step=_dec(lot.get("stepSize")),
            min_qty=_dec(lot.get("minQty")),
            max_qty=_dec(lot.get("maxQty")),
            market_step=_dec(market.get("stepSize")),
            market_min_qty=_dec(market.get("minQty")),
            market_max_qty=_dec(market.get("maxQty")),
            min_notional=min_notional,
            apply_min_to_market=apply_min,
            max_notional=max_notional,
            apply_max_to_market=apply_max,
            base_precision=int(raw.get("baseAssetPrecision", 8)),
            quote_precision=int(raw.get("quoteAssetPrecision", raw.get("quotePrecision", 8))),
            quote_order_qty_allowed=bool(raw.get("quoteOrderQtyMarketAllowed", True)),
            trading=raw.get("status", "TRADING") == "TRADING",
        )

    # --- the checks, in the order Binance applies them to a MARKET order -----------------

    def market_quantity(
        self, *, quantity: Decimal | None, quote_order_qty: Decimal | None, price: Decimal
    ) -> Decimal:
        """The base quantity a MARKET order executes at `price`, or a Reject."""
        if not self.trading:
            raise Reject(-1013, "Market is closed.")
        if quote_order_qty is not None:
            if not self.quote_order_qty_allowed:
                raise Reject(
                    -1013, "Quote order qty market orders are not support for this symbol."
                )
            if quote_order_qty <= 0:
                raise Reject(-1013, "Invalid quantity.")
            if _places(quote_order_qty) > self.quote_precision:
                raise Reject(-1111, "Parameter 'quoteOrderQty' has too much precision.")
            # quoteOrderQty "will not break LOT_SIZE": the engine buys whole steps.
            qty = self._floor(quote_order_qty / price, self.step)
        else:
            if quantity is None or quantity <= 0:
                raise Reject(-1013, "Invalid quantity.")
            if _places(quantity) > self.base_precision:
                raise Reject(-1111, "Parameter 'quantity' has too much precision.")
            qty = quantity
            if self.step > 0 and (qty - self.min_qty) % self.step != 0:
                raise Reject(-1013, "Filter failure: LOT_SIZE")
        if qty < self.min_qty or (self.max_qty > 0 and qty > self.max_qty) or qty <= 0:
            raise Reject(-1013, "Filter failure: LOT_SIZE")
        if qty < self.market_min_qty or (self.market_max_qty > 0 and qty > self.market_max_qty):
            raise Reject(-1013, "Filter failure: MARKET_LOT_SIZE")
        if (
            quantity is not None
            and self.market_step > 0
            and (qty - self.market_min_qty) % self.market_step != 0
        ):
            raise Reject(-1013, "Filter failure: MARKET_LOT_SIZE")
        notional = qty * price
        if self.apply_min_to_market and notional < self.min_notional:
            raise Reject(-1013, "Filter failure: NOTIONAL")
        if self.apply_max_to_market and self.max_notional > 0 and notional > self.max_notional:
            raise Reject(-1013, "Filter failure: NOTIONAL")
        return qty

    @staticmethod
    def _floor(value: Decimal, step: Decimal) -> Decimal:
        if step <= 0:
            return value
        return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def synthetic_symbol(
    base: str, quote: str, *, step: str, tick: str, min_qty: str, min_notional: str
) -> dict[str, Any]:
    """An exchangeInfo entry in Binance's 2025 shape for a market the tests invent."""
    return {
        "symbol": base + quote,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
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
                "minPrice": tick,
                "maxPrice": "1000000.00",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": "9000000", "stepSize": step},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "9000000", "stepSize": "0"},
            {
                "filterType": "NOTIONAL",
                "minNotional": min_notional,
                "applyMinToMarket": True,
                "maxNotional": "9000000",
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
    }

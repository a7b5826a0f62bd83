"""Sizing one market order within the exchange's limits, exactly as it will be sent.

LOT_SIZE and MARKET_LOT_SIZE bound the base amount (both apply to market orders), the price
tick bounds how finely a buy by quote amount is sent (ccxt truncates quoteOrderQty to it), and
(MIN_)NOTIONAL bounds the value. Every check runs on the rounded, capped size.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from bot.domain.market import Market

ZERO = Decimal(0)


class DropReason(enum.StrEnum):
    WITHIN_THRESHOLD = "within_threshold"
    BELOW_MIN_COST = "below_min_cost"
    BELOW_MIN_AMOUNT = "below_min_amount"
    BELOW_USER_MIN = "below_user_min"
    ROUNDS_TO_ZERO = "rounds_to_zero"
    NO_MARKET = "no_market"
    NO_PRICE = "no_price"
    INSUFFICIENT_QUOTE = "insufficient_quote"


@dataclass(frozen=True, slots=True)
class DroppedLeg:
    asset: str
    side: str
    value: Decimal
    reason: DropReason
    symbol: str | None = None


def round_down(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def sell_amount(
    market: Market,
    amount: Decimal,
    price: Decimal,
    margin: Decimal,
    min_trade: Decimal,
    value: Decimal,
    asset: str,
    side: str,
    dropped: list[DroppedLeg],
) -> Decimal | None:
    """The base amount a market sell sends, or None (and a DroppedLeg): capped to the largest
    market order, rounded down to the lot step, then checked against every minimum."""
    cap = market.max_order_amount
    if cap is not None and amount > cap:
        amount = cap
    amount = round_down(amount, market.amount_step)
    reason = None
    if amount <= 0:
        reason = DropReason.ROUNDS_TO_ZERO
    elif amount < max(market.min_amount, market.market_min_amount):
        reason = DropReason.BELOW_MIN_AMOUNT
    elif amount * price < market.min_cost * margin:
        reason = DropReason.BELOW_MIN_COST
    elif value < min_trade:
        reason = DropReason.BELOW_USER_MIN
    if reason is not None:
        dropped.append(DroppedLeg(asset, side, value, reason, market.symbol))
        return None
    return amount


def buy_cost(
    market: Market,
    cost: Decimal,
    price: Decimal,
    margin: Decimal,
    min_trade: Decimal,
    value: Decimal,
    asset: str,
    dropped: list[DroppedLeg],
) -> Decimal | None:
    """The quote amount a market buy sends, or None (and a DroppedLeg) when it cannot trade.

    Capped so the amount it buys stays within the largest market order (with a margin: a
    lower fill price buys more than `cost / price`), rounded down to the cost step ccxt sends,
    then checked as the exchange will: it buys whole lot steps (quoteOrderQty never breaks
    LOT_SIZE), so the minimum amount and notional apply to what those steps are worth.
    """
    cap = market.max_order_amount
    if cap is not None and price > 0 and cost > cap * price / margin:
        cost = cap * price / margin
    cost = round_down(cost, market.cost_step)
    bought = round_down(cost / price, market.amount_step) if price > 0 else ZERO
    reason = None
    if cost <= 0 or price <= 0 or bought <= 0:
        reason = DropReason.ROUNDS_TO_ZERO
    elif cost < market.min_cost * margin or bought * price < market.min_cost * margin:
        reason = DropReason.BELOW_MIN_COST
    elif bought < max(market.min_amount, market.market_min_amount) * margin:
        reason = DropReason.BELOW_MIN_AMOUNT
    elif value < min_trade:
        reason = DropReason.BELOW_USER_MIN
    if reason is not None:
        dropped.append(DroppedLeg(asset, "buy", value, reason, market.symbol))
        return None
    return cost


def exchange_min_trade(markets: dict[str, Market], quote: str, assets: set[str]) -> Decimal:
    """The exchange's minimum trade for these coins, in the quote: the largest minimum notional
    of their direct markets (of every market of the quote when none of them has one). A user's
    minimum below it would promise trades the exchange refuses."""
    quoted = [m for m in markets.values() if m.quote == quote and m.active and m.spot]
    mine = [m.min_cost for m in quoted if m.base in assets]
    return max(mine or [m.min_cost for m in quoted], default=ZERO)

"""Holdings valued in the quote asset: direct, inverse, or through BTC; dust set apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.market import Market

ZERO = Decimal(0)
HUNDRED = Decimal(100)
BRIDGE = "BTC"


@dataclass(frozen=True, slots=True)
class Holding:
    asset: str
    amount: Decimal
    price: Decimal  # one unit in the quote asset
    value: Decimal
    weight: Decimal  # percent of the tradable value; 0 for dust
    dust: bool = False


@dataclass(frozen=True, slots=True)
class Valuation:
    quote: str
    holdings: tuple[Holding, ...]
    total_value: Decimal  # tradable holdings only: the base of weights and drift
    dust_value: Decimal
    unpriced: tuple[str, ...]

    def weights(self) -> dict[str, Decimal]:
        return {h.asset: h.weight for h in self.holdings if not h.dust}

    def holding(self, asset: str) -> Holding | None:
        for holding in self.holdings:
            if holding.asset == asset:
                return holding
        return None


def price_in_quote(
    asset: str, quote: str, prices: Mapping[str, Decimal], markets: Mapping[str, Market]
) -> Decimal | None:
    """One unit of `asset` in `quote`, or None when no route prices it."""
    if asset == quote:
        return Decimal(1)
    direct = prices.get(f"{asset}/{quote}")
    if direct is not None and direct > 0:
        return direct
    inverse = prices.get(f"{quote}/{asset}")
    if inverse is not None and inverse > 0:
        return Decimal(1) / inverse
    if BRIDGE not in (asset, quote):
        via = prices.get(f"{asset}/{BRIDGE}")
        bridge = price_in_quote(BRIDGE, quote, prices, markets)
        if via is not None and via > 0 and bridge is not None:
            return via * bridge
    return None


def min_tradable_value(
    asset: str, quote: str, price: Decimal, markets: Mapping[str, Market]
) -> Decimal:
    """The smallest value the exchange lets us trade of `asset` (its market minimums)."""
    market = markets.get(f"{asset}/{quote}") or markets.get(f"{asset}/{BRIDGE}")
    if market is None:
        return ZERO
    in_market_quote = max(market.min_cost, market.min_amount * price)
    if market.quote != quote:  # the BTC market's minimum, valued in our quote
        return max(market.min_amount * price, ZERO)
    return in_market_quote


def value_portfolio(
    balances: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    quote: str,
) -> Valuation:
    priced: list[tuple[str, Decimal, Decimal, Decimal, bool]] = []
    unpriced: list[str] = []
    for asset in sorted(balances):
        amount = balances[asset]
        if amount <= 0:
            continue
        price = price_in_quote(asset, quote, prices, markets)
        if price is None:
            unpriced.append(asset)
            continue
        value = amount * price
        dust = asset != quote and value < min_tradable_value(asset, quote, price, markets)
        priced.append((asset, amount, price, value, dust))
    total = sum((v for _a, _m, _p, v, d in priced if not d), ZERO)
    dust_value = sum((v for _a, _m, _p, v, d in priced if d), ZERO)
    holdings = tuple(
        Holding(
            asset=asset,
            amount=amount,
            price=price,
            value=value,
            weight=ZERO if dust or total <= 0 else value / total * HUNDRED,
            dust=dust,
        )
        for asset, amount, price, value, dust in priced
    )
    return Valuation(quote, holdings, total, dust_value, tuple(unpriced))

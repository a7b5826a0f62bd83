"""Holdings valued in the quote asset: direct, inverse, or through BTC; dust set apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain.market import Market

ZERO = Decimal(0)
HUNDRED = Decimal(100)
# The assets two-hop routes go through, in order of preference (the planner routes through
# the same ones, so whatever it can trade is priced).
HUBS = ("USDT", "BTC", "ETH", "BNB", "FDUSD")


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


def _pair_price(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    """One unit of `asset` in `quote` from their own market, either way round."""
    if asset == quote:
        return Decimal(1)
    direct = prices.get(f"{asset}/{quote}")
    if direct is not None and direct > 0:
        return direct
    inverse = prices.get(f"{quote}/{asset}")
    if inverse is not None and inverse > 0:
        return Decimal(1) / inverse
    return None


def price_in_quote(
    asset: str,
    quote: str,
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    hubs: tuple[str, ...] = HUBS,
) -> Decimal | None:
    """One unit of `asset` in `quote`: its own market, or through a hub; None when no route
    prices it."""
    price = _pair_price(asset, quote, prices)
    if price is not None:
        return price
    for hub in hubs:
        if hub in (asset, quote):
            continue
        via = _pair_price(asset, hub, prices)
        onward = _pair_price(hub, quote, prices) if via is not None else None
        if via is not None and onward is not None:
            return via * onward
    return None


def _market(markets: Mapping[str, Market], base: str, quote: str) -> Market | None:
    market = markets.get(f"{base}/{quote}")
    return market if market is not None and market.active and market.spot else None


def route_markets(
    asset: str, quote: str, markets: Mapping[str, Market], hubs: tuple[str, ...] = HUBS
) -> tuple[Market, ...] | None:
    """The markets the planner trades `asset` against `quote` through: its own market (either
    way round), or two hops `asset/hub` then `hub/quote`. None: the asset cannot be traded."""
    own = _market(markets, asset, quote) or _market(markets, quote, asset)
    if own is not None:
        return (own,)
    for hub in hubs:
        if hub in (asset, quote):
            continue
        first, second = _market(markets, asset, hub), _market(markets, hub, quote)
        if first is not None and second is not None:
            return (first, second)
    return None


def tradable_assets(
    quote: str, markets: Mapping[str, Market], hubs: tuple[str, ...] = HUBS
) -> set[str]:
    """Every asset the planner can trade against `quote` on these markets (and the quote)."""
    listed = {m.base for m in markets.values()} | {m.quote for m in markets.values()}
    return {a for a in listed if a == quote or route_markets(a, quote, markets, hubs)} | {quote}


def min_tradable_value(
    asset: str,
    quote: str,
    price: Decimal,
    markets: Mapping[str, Market],
    prices: Mapping[str, Decimal] | None = None,
) -> Decimal:
    """The smallest value of `asset` (in `quote`) the exchange lets us sell along its route:
    the first market's minimum amount and minimum notional, the notional valued in our quote
    (a BTC-only market's 0.0001 BTC is ~6 USDT, not nothing). Holdings below it can never be
    sold: they are dust, left out of the weights and the drift."""
    route = route_markets(asset, quote, markets)
    if route is None:
        return ZERO
    market = route[0]
    if market.base != asset:  # inverse market (asset is its quote): the notional is in `asset`
        return market.min_cost * price
    notional = market.min_cost
    if market.quote != quote:
        hub_price = price_in_quote(market.quote, quote, prices or {}, markets)
        notional = market.min_cost * hub_price if hub_price is not None else ZERO
    return max(notional, market.min_amount * price)


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
        dust = asset != quote and value < min_tradable_value(asset, quote, price, markets, prices)
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

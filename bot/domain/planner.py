"""The trade planner: sells first, then buys; rounded to the market's steps; minimums respected."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal

from bot.domain.drift import drift_points, max_drift, needs_rebalance
from bot.domain.limits import (
    DroppedLeg,
    DropReason,
    buy_cost,
    round_down,
    sell_amount,
)
from bot.domain.market import Market
from bot.domain.valuation import (
    HUBS,
    HUNDRED,
    ZERO,
    Valuation,
    price_in_quote,
    value_portfolio,
)

DEFAULT_FEE_RATE = Decimal("0.001")
DEFAULT_FEE_RESERVE = Decimal("0.005")  # of the portfolio, kept in the quote for fees/slippage
DEFAULT_SAFETY_MARGIN = Decimal("1.05")  # over the exchange minimum, so a price tick cannot fail it
DEFAULT_HUBS = HUBS


@dataclass(frozen=True, slots=True)
class PlannedLeg:
    """One order. Sells (and sells on an inverse market) carry `amount` in the market's base;
    buys carry `cost` in the market's quote (Binance quoteOrderQty). A routed second hop has
    `depends_on`: its size is what the first hop actually produced, known only after it fills."""

    leg_id: str
    symbol: str
    side: str
    asset: str  # the portfolio asset this leg moves toward its target
    value: Decimal  # approximate value in the portfolio's quote
    amount: Decimal | None = None
    cost: Decimal | None = None
    hop: int = 1
    depends_on: str | None = None


@dataclass(frozen=True, slots=True)
class TradePlan:
    quote: str
    valuation: Valuation
    target_weights: dict[str, Decimal]
    drift_before: dict[str, Decimal]
    drift_after: dict[str, Decimal]
    max_drift: Decimal
    threshold: Decimal
    needs_rebalance: bool
    sells: tuple[PlannedLeg, ...] = ()
    buys: tuple[PlannedLeg, ...] = ()
    dropped: tuple[DroppedLeg, ...] = ()
    estimated_fees: Decimal = ZERO

    @property
    def total_value(self) -> Decimal:
        return self.valuation.total_value

    @property
    def is_empty(self) -> bool:
        return not self.sells and not self.buys


@dataclass
class _Rules:
    markets: Mapping[str, Market]
    prices: Mapping[str, Decimal]
    quote: str
    min_trade: Decimal
    fee_rate: Decimal
    margin: Decimal
    hubs: tuple[str, ...]
    dropped: list[DroppedLeg] = field(default_factory=list)

    def check_amount(
        self, market: Market, amount: Decimal, asset: str, side: str, value: Decimal
    ) -> Decimal | None:
        """A sell by base amount, exactly as it will be sent (see `limits.sell_amount`)."""
        price = self.prices.get(market.symbol, ZERO)
        return sell_amount(
            market, amount, price, self.margin, self.min_trade, value, asset, side, self.dropped
        )

    def check_cost(
        self, market: Market, cost: Decimal, asset: str, value: Decimal
    ) -> Decimal | None:
        """A buy by quote amount, exactly as it will be sent: capped so the amount it buys stays
        within the largest market order, rounded down to the cost step ccxt sends, and only
        then checked against the minimums."""
        price = self.prices.get(market.symbol, ZERO)
        return buy_cost(
            market, cost, price, self.margin, self.min_trade, value, asset, self.dropped
        )

    def market(self, base: str, quote: str) -> Market | None:
        market = self.markets.get(f"{base}/{quote}")
        if market is None or not market.active or not market.spot:
            return None
        if self.prices.get(market.symbol, ZERO) <= 0:
            return None
        return market

    def hub_route(self, asset: str) -> tuple[Market, Market] | None:
        for hub in self.hubs:
            if hub in (asset, self.quote):
                continue
            first = self.market(asset, hub)
            second = self.market(hub, self.quote)
            if first is not None and second is not None:
                return first, second
        return None


def _sell_legs(rules: _Rules, asset: str, amount: Decimal, value: Decimal) -> list[PlannedLeg]:
    """Sell `amount` of `asset` for the quote: direct, inverse market, or two hops via a hub."""
    direct = rules.market(asset, rules.quote)
    if direct is not None:
        checked = rules.check_amount(direct, amount, asset, "sell", value)
        return (
            [PlannedLeg("", direct.symbol, "sell", asset, value, amount=checked)] if checked else []
        )
    inverse = rules.market(rules.quote, asset)
    if inverse is not None:  # e.g. selling USDT for BTC when the quote is BTC: buy BTC/USDT
        cost = rules.check_cost(inverse, amount, asset, value)
        return [PlannedLeg("", inverse.symbol, "buy", asset, value, cost=cost)] if cost else []
    route = rules.hub_route(asset)
    if route is None:
        rules.dropped.append(DroppedLeg(asset, "sell", value, DropReason.NO_MARKET))
        return []
    first, second = route
    checked = rules.check_amount(first, amount, asset, "sell", value)
    if checked is None:
        return []
    hub_amount = checked * rules.prices[first.symbol] * (1 - rules.fee_rate)
    if rules.check_amount(second, hub_amount, asset, "sell", value) is None:
        rules.dropped.pop()  # the first hop is fine; record the whole route as one drop
        rules.dropped.append(
            DroppedLeg(asset, "sell", value, DropReason.BELOW_MIN_COST, second.symbol)
        )
        return []
    return [
        PlannedLeg("", first.symbol, "sell", asset, value, amount=checked, hop=1),
        PlannedLeg(
            "",
            second.symbol,
            "sell",
            asset,
            value,
            amount=round_down(hub_amount, second.amount_step),
            hop=2,
            depends_on="@prev",
        ),
    ]


def _buy_legs(rules: _Rules, asset: str, cost: Decimal, value: Decimal) -> list[PlannedLeg]:
    """Spend `cost` of the quote on `asset`: direct, inverse market, or two hops via a hub."""
    direct = rules.market(asset, rules.quote)
    if direct is not None:
        checked = rules.check_cost(direct, cost, asset, value)
        return [PlannedLeg("", direct.symbol, "buy", asset, value, cost=checked)] if checked else []
    inverse = rules.market(rules.quote, asset)
    if inverse is not None:  # e.g. buying USDT with BTC when the quote is BTC: sell BTC/USDT
        amount = rules.check_amount(inverse, cost, asset, "buy", value)
        return (
            [PlannedLeg("", inverse.symbol, "sell", asset, value, amount=amount)] if amount else []
        )
    route = rules.hub_route(asset)
    if route is None:
        rules.dropped.append(DroppedLeg(asset, "buy", value, DropReason.NO_MARKET))
        return []
    first, second = route
    hub_cost = rules.check_cost(second, cost, asset, value)
    if hub_cost is None:
        return []
    hub_amount = hub_cost / rules.prices[second.symbol] * (1 - rules.fee_rate)
    if rules.check_cost(first, hub_amount, asset, value) is None:
        rules.dropped.pop()
        rules.dropped.append(
            DroppedLeg(asset, "buy", value, DropReason.BELOW_MIN_COST, first.symbol)
        )
        return []
    return [
        PlannedLeg("", second.symbol, "buy", asset, value, cost=hub_cost, hop=1),
        PlannedLeg(
            "",
            first.symbol,
            "buy",
            asset,
            value,
            cost=round_down(hub_amount, first.cost_step),
            hop=2,
            depends_on="@prev",
        ),
    ]


def _proceeds(
    sells: Iterable[PlannedLeg],
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    quote: str,
) -> Decimal:
    """What the first hops of the sells bring in, at the rounded sizes actually planned."""
    total = ZERO
    for leg in sells:
        if leg.hop != 1:
            continue
        size = leg.amount if leg.side == "sell" else leg.cost
        price = price_in_quote(leg.asset, quote, prices, markets)
        if size is not None and price is not None:
            total += size * price
    return total


def _number(legs: Iterable[PlannedLeg], prefix: str) -> tuple[PlannedLeg, ...]:
    numbered: list[PlannedLeg] = []
    for leg in legs:
        leg_id = f"{prefix}{len(numbered) + 1}"
        depends = numbered[-1].leg_id if leg.depends_on == "@prev" else leg.depends_on
        numbered.append(replace(leg, leg_id=leg_id, depends_on=depends))
    return tuple(numbered)


def plan_rebalance(
    *,
    balances: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    targets: Mapping[str, Decimal],
    quote: str,
    threshold: Decimal,
    min_trade: Decimal = ZERO,
    fee_rate: Decimal = DEFAULT_FEE_RATE,
    fee_reserve: Decimal = DEFAULT_FEE_RESERVE,
    safety_margin: Decimal = DEFAULT_SAFETY_MARGIN,
    hubs: tuple[str, ...] = DEFAULT_HUBS,
) -> TradePlan:
    """The orders that bring free balances back to `targets` (percent), if drift passes `threshold`.

    Past the threshold, every asset is traded back to its target (not only the drifting one),
    within the minimums. Buys are scaled to the quote the sells will free, less a fee reserve.
    """
    valuation = value_portfolio(balances, prices, markets, quote)
    current = valuation.weights()
    drifts = drift_points(current, targets)
    largest = max_drift(drifts)
    needed = needs_rebalance(drifts, threshold) and valuation.total_value > 0
    base = TradePlan(quote, valuation, dict(targets), drifts, drifts, largest, threshold, needed)
    if not needed:
        return base
    rules = _Rules(markets, prices, quote, min_trade, fee_rate, safety_margin, hubs)
    total = valuation.total_value
    sells: list[PlannedLeg] = []
    wants: list[tuple[str, Decimal]] = []
    for asset in sorted(set(targets) | set(current)):
        if asset == quote:
            continue
        holding = valuation.holding(asset)
        value = holding.value if holding is not None and not holding.dust else ZERO
        price = price_in_quote(asset, quote, prices, markets)
        if price is None:
            rules.dropped.append(DroppedLeg(asset, "buy", ZERO, DropReason.NO_PRICE))
            continue
        delta = targets.get(asset, ZERO) * total / HUNDRED - value
        if delta < 0 and holding is not None:
            amount = holding.amount if targets.get(asset, ZERO) == 0 else -delta / price
            sells += _sell_legs(rules, asset, min(amount, holding.amount), -delta)
        elif delta > 0:
            wants.append((asset, delta))
    proceeds = _proceeds(sells, prices, markets, quote) * (1 - fee_rate)
    available = balances.get(quote, ZERO) + proceeds - total * fee_reserve
    wanted = sum((delta for _a, delta in wants), ZERO)
    scale = min(Decimal(1), available / wanted) if wanted > 0 and available > 0 else ZERO
    buys: list[PlannedLeg] = []
    for asset, delta in wants:
        if scale <= 0:
            rules.dropped.append(DroppedLeg(asset, "buy", delta, DropReason.INSUFFICIENT_QUOTE))
            continue
        buys += _buy_legs(rules, asset, delta * scale, delta * scale)
    sell_legs, buy_legs = _number(sells, "s"), _number(buys, "b")
    plan = replace(
        base,
        sells=sell_legs,
        buys=buy_legs,
        dropped=tuple(rules.dropped),
        estimated_fees=sum((leg.value for leg in (*sell_legs, *buy_legs)), ZERO) * fee_rate,
    )
    return replace(plan, drift_after=estimate_drift_after(plan, balances, prices, markets))


def estimate_drift_after(
    plan: TradePlan,
    balances: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
    fee_rate: Decimal = DEFAULT_FEE_RATE,
) -> dict[str, Decimal]:
    """Drift if every leg filled at today's prices, a fee taken from what each leg receives."""
    after = dict(balances)
    for leg in (*plan.sells, *plan.buys):
        price = price_in_quote(leg.asset, plan.quote, prices, markets)
        if leg.hop == 2 or not price:
            continue  # the first hop already carries the route's value
        if reduces(leg):
            after[leg.asset] = after.get(leg.asset, ZERO) - leg.value / price
            after[plan.quote] = after.get(plan.quote, ZERO) + leg.value * (1 - fee_rate)
        else:
            after[leg.asset] = after.get(leg.asset, ZERO) + leg.value * (1 - fee_rate) / price
            after[plan.quote] = after.get(plan.quote, ZERO) - leg.value
    valuation = value_portfolio(
        {a: b for a, b in after.items() if b > 0}, prices, markets, plan.quote
    )
    return drift_points(valuation.weights(), plan.target_weights)


def reduces(leg: PlannedLeg) -> bool:
    """Whether a leg reduces its portfolio asset (sells it, or buys the quote with it)."""
    base, _slash, market_quote = leg.symbol.partition("/")
    return (base == leg.asset and leg.side == "sell") or (
        market_quote == leg.asset and leg.side == "buy"
    )


def rescale_buys(
    buys: Iterable[PlannedLeg],
    *,
    available_quote: Decimal,
    markets: Mapping[str, Market],
    prices: Mapping[str, Decimal],
    min_trade: Decimal = ZERO,
    reserve: Decimal = ZERO,
    safety_margin: Decimal = DEFAULT_SAFETY_MARGIN,
) -> tuple[tuple[PlannedLeg, ...], tuple[DroppedLeg, ...]]:
    """Fit first-hop buys into the quote actually available after the sells, less `reserve`
    (the plan's fee reserve), and re-check every limit on the new sizes, exactly as they will
    be sent. A buy on an inverse market (selling the quote by amount) scales like the rest.
    Dependent second hops follow their first hop: dropped with it, sized at execution."""
    legs = list(buys)
    spend = sum((_spends_quote(leg) for leg in legs), ZERO)
    budget = max(available_quote - reserve, ZERO)
    scale = Decimal(1) if spend <= budget else budget / spend
    kept: list[PlannedLeg] = []
    dropped: list[DroppedLeg] = []
    kept_ids: set[str] = set()
    for leg in legs:
        if leg.depends_on is not None:
            if leg.depends_on in kept_ids:
                kept.append(leg)
                kept_ids.add(leg.leg_id)
            continue
        market = markets.get(leg.symbol)
        price = prices.get(leg.symbol, ZERO)
        value = leg.value * scale
        if market is None or scale <= 0:
            dropped.append(DroppedLeg(leg.asset, "buy", value, DropReason.INSUFFICIENT_QUOTE))
            continue
        if leg.side == "buy":
            cost = buy_cost(
                market,
                (leg.cost or ZERO) * scale,
                price,
                safety_margin,
                min_trade,
                value,
                leg.asset,
                dropped,
            )
            resized = None if cost is None else replace(leg, cost=cost, value=value)
        else:
            amount = sell_amount(
                market,
                (leg.amount or ZERO) * scale,
                price,
                safety_margin,
                min_trade,
                value,
                leg.asset,
                "buy",
                dropped,
            )
            resized = None if amount is None else replace(leg, amount=amount, value=value)
        if resized is not None:
            kept.append(resized)
            kept_ids.add(leg.leg_id)
    return tuple(kept), tuple(dropped)


def _spends_quote(leg: PlannedLeg) -> Decimal:
    """The portfolio quote a first-hop buy consumes: its cost, or on an inverse market (the
    quote is that market's base) the amount it sells."""
    if leg.depends_on is not None:
        return ZERO
    return (leg.cost if leg.side == "buy" else leg.amount) or ZERO

"""The trade planner: sells first, then buys; rounded to the market's steps; minimums respected."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import ROUND_DOWN, Decimal

from bot.domain.drift import drift_points, max_drift, needs_rebalance
from bot.domain.market import Market
from bot.domain.valuation import HUNDRED, ZERO, Valuation, price_in_quote, value_portfolio

DEFAULT_FEE_RATE = Decimal("0.001")
DEFAULT_FEE_RESERVE = Decimal("0.005")  # of the portfolio, kept in the quote for fees/slippage
DEFAULT_SAFETY_MARGIN = Decimal("1.05")  # over the exchange minimum, so a price tick cannot fail it
DEFAULT_HUBS = ("USDT", "BTC", "ETH", "BNB", "FDUSD")
COST_STEP = Decimal("0.00000001")  # quoteOrderQty precision (Binance quote precision is 8)


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

    @property
    def spends_quote(self) -> Decimal:
        """Portfolio quote this leg consumes (first-hop buys only)."""
        return self.cost or ZERO if self.side == "buy" and self.depends_on is None else ZERO


@dataclass(frozen=True, slots=True)
class DroppedLeg:
    asset: str
    side: str
    value: Decimal
    reason: DropReason
    symbol: str | None = None


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


def round_down(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


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
        """Round a base amount down to the step and check every limit after rounding."""
        amount = round_down(amount, market.amount_step)
        for limit in (market.max_amount, market.market_max_amount):
            if limit is not None and limit > 0 and amount > limit:
                amount = round_down(limit, market.amount_step)
        price = self.prices.get(market.symbol, ZERO)
        reason = None
        if amount <= 0:
            reason = DropReason.ROUNDS_TO_ZERO
        elif amount < market.min_amount:
            reason = DropReason.BELOW_MIN_AMOUNT
        elif amount * price < market.min_cost * self.margin:
            reason = DropReason.BELOW_MIN_COST
        elif value < self.min_trade:
            reason = DropReason.BELOW_USER_MIN
        if reason is not None:
            self.dropped.append(DroppedLeg(asset, side, value, reason, market.symbol))
            return None
        return amount

    def check_cost(
        self, market: Market, cost: Decimal, asset: str, value: Decimal
    ) -> Decimal | None:
        """A buy by quote amount: round down, then the cost and (estimated) amount minimums."""
        cost = round_down(cost, COST_STEP)
        price = self.prices.get(market.symbol, ZERO)
        reason = None
        if cost <= 0 or price <= 0:
            reason = DropReason.ROUNDS_TO_ZERO
        elif cost < market.min_cost * self.margin:
            reason = DropReason.BELOW_MIN_COST
        elif cost / price < market.min_amount * self.margin:
            reason = DropReason.BELOW_MIN_AMOUNT
        elif value < self.min_trade:
            reason = DropReason.BELOW_USER_MIN
        if reason is not None:
            self.dropped.append(DroppedLeg(asset, "buy", value, reason, market.symbol))
            return None
        if market.market_max_amount and cost / price > market.market_max_amount:
            cost = round_down(market.market_max_amount * price, COST_STEP)
        return cost

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
            cost=round_down(hub_amount, COST_STEP),
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
    min_trade: Decimal = ZERO,
    prices: Mapping[str, Decimal] | None = None,
    safety_margin: Decimal = DEFAULT_SAFETY_MARGIN,
) -> tuple[tuple[PlannedLeg, ...], tuple[DroppedLeg, ...]]:
    """Fit first-hop buys into the quote actually available after the sells; re-check minimums.

    Dependent second hops follow their first hop: dropped with it, sized at execution.
    """
    legs = list(buys)
    spend = sum((leg.spends_quote for leg in legs), ZERO)
    scale = Decimal(1) if spend <= available_quote else max(available_quote, ZERO) / spend
    kept: list[PlannedLeg] = []
    dropped: list[DroppedLeg] = []
    kept_ids: set[str] = set()
    for leg in legs:
        if leg.depends_on is not None:
            if leg.depends_on in kept_ids:
                kept.append(leg)
                kept_ids.add(leg.leg_id)
            continue
        if leg.spends_quote == 0:  # an inverse-market sell: spends the quote by amount
            kept.append(leg)
            kept_ids.add(leg.leg_id)
            continue
        cost = round_down((leg.cost or ZERO) * scale, COST_STEP)
        market = markets.get(leg.symbol)
        price = (prices or {}).get(leg.symbol)
        value = leg.value * scale
        reason = None
        if market is None or cost <= 0:
            reason = DropReason.INSUFFICIENT_QUOTE
        elif cost < market.min_cost * safety_margin:
            reason = DropReason.BELOW_MIN_COST
        elif price and cost / price < market.min_amount * safety_margin:
            reason = DropReason.BELOW_MIN_AMOUNT
        elif value < min_trade:
            reason = DropReason.BELOW_USER_MIN
        if reason is not None:
            dropped.append(DroppedLeg(leg.asset, "buy", value, reason, leg.symbol))
            continue
        kept.append(replace(leg, cost=cost, value=value))
        kept_ids.add(leg.leg_id)
    return tuple(kept), tuple(dropped)

"""What an order did to the account: fees per currency (valued each at its own price), what
it put in and took out, and the size of a routed second hop."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_DOWN, Decimal

from bot.domain.market import Market
from bot.domain.valuation import price_in_quote
from bot.services.run_result import OrderOutcome

FEE_RATE = Decimal("0.001")  # Binance's default taker fee: dry-run fills, unreported fees


def round_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def fees_json(fees: Mapping[str, Decimal] | None) -> dict[str, str] | None:
    return None if fees is None else {currency: str(amount) for currency, amount in fees.items()}


def fees_of(outcome: OrderOutcome) -> dict[str, Decimal]:
    """What the order paid, per currency; unreported: the standard fee on what it received."""
    if outcome.fees is not None:
        return dict(outcome.fees)
    if outcome.filled <= 0:
        return {}
    base, _slash, quote = outcome.symbol.partition("/")
    if outcome.side == "sell":
        return {quote: outcome.cost * FEE_RATE}
    return {base: outcome.filled * FEE_RATE}


def fee_value(
    fees: Mapping[str, Decimal],
    quote: str,
    prices: Mapping[str, Decimal],
    markets: Mapping[str, Market],
) -> Decimal | None:
    """Fees in the quote, each currency at its own price (a BNB fee at BNB's, not the pair's);
    None when some currency has no price."""
    total = Decimal(0)
    for currency, amount in fees.items():
        price = price_in_quote(currency, quote, prices, markets)
        if price is None:
            return None
        total += amount * price
    return total


def received(outcome: OrderOutcome) -> Decimal:
    """What an order put into the account, net of a fee taken from the received asset."""
    base, _slash, quote = outcome.symbol.partition("/")
    got, currency = (outcome.cost, quote) if outcome.side == "sell" else (outcome.filled, base)
    return max(got - fees_of(outcome).get(currency, Decimal(0)), Decimal(0))


def apply_fill(balances: dict[str, Decimal], outcome: OrderOutcome) -> None:
    """Move a fill through in-memory balances: what it spent, what it got, every fee in its
    own currency (BNB paying the fee of a */BNB buy shrinks BNB like any other BNB fee)."""
    if outcome.filled <= 0:
        return
    base, _slash, quote = outcome.symbol.partition("/")
    if outcome.side == "sell":
        spent, spent_amount, got, got_amount = base, outcome.filled, quote, outcome.cost
    else:
        spent, spent_amount, got, got_amount = quote, outcome.cost, base, outcome.filled
    balances[spent] = balances.get(spent, Decimal(0)) - spent_amount
    balances[got] = balances.get(got, Decimal(0)) + got_amount
    for currency, fee in fees_of(outcome).items():
        balances[currency] = balances.get(currency, Decimal(0)) - fee


def dependent_size(outcome: OrderOutcome, market: Market) -> Decimal:
    """The size of a routed second hop: what the first hop actually produced, rounded as the
    exchange (and ccxt) will take it: sells to the lot step, buys' cost to the price tick."""
    got = received(outcome)
    if outcome.side == "sell":
        return round_step(got, market.amount_step)
    return round_step(got, market.price_step)

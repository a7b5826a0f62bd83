"""The exchange's minimum trade for a user's coins, which /mintrade may not go below."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.limits import exchange_min_trade
from bot.domain.market import Market


def _market(base: str, quote: str, min_cost: str, *, active: bool = True) -> Market:
    return Market(
        f"{base}/{quote}",
        base,
        quote,
        Decimal("0.001"),
        Decimal("0.01"),
        min_cost=Decimal(min_cost),
        active=active,
    )


MARKETS = {
    m.symbol: m
    for m in (
        _market("BTC", "USDT", "5"),
        _market("ETH", "USDT", "10"),
        _market("DOGE", "USDT", "1"),
        _market("OLD", "USDT", "50", active=False),
        _market("ETH", "BTC", "0.0001"),
    )
}


def test_the_largest_minimum_among_the_users_coins() -> None:
    assert exchange_min_trade(MARKETS, "USDT", {"BTC", "DOGE"}) == Decimal(5)
    assert exchange_min_trade(MARKETS, "USDT", {"BTC", "ETH"}) == Decimal(10)


def test_without_coins_of_its_own_every_market_of_the_quote_counts() -> None:
    assert exchange_min_trade(MARKETS, "USDT", set()) == Decimal(10)  # OLD is not traded
    assert exchange_min_trade(MARKETS, "EUR", {"BTC"}) == Decimal(0)

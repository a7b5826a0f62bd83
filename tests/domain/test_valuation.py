"""Valuation routes through the same hubs the planner trades through; dust is what cannot be
sold along that route."""

from __future__ import annotations

from decimal import Decimal

from bot.domain.market import Market
from bot.domain.planner import plan_rebalance
from bot.domain.valuation import (
    min_tradable_value,
    price_in_quote,
    route_markets,
    tradable_assets,
    value_portfolio,
)

D = Decimal


def _m(base: str, quote: str, *, min_cost: str = "5", step: str = "0.001") -> Market:
    return Market(
        f"{base}/{quote}", base, quote, D(step), D("0.00000001"), D(step), None, None, D(min_cost)
    )


MARKETS = {
    m.symbol: m
    for m in (
        _m("BTC", "USDT"),
        _m("ETH", "USDT"),
        _m("ARB", "ETH", min_cost="0.001"),  # tradable only through ETH
        _m("ZZZ", "BTC", min_cost="0.0001", step="1"),  # only through BTC
        _m("AAA", "XYZ"),  # listed, but no route to USDT at all
    )
}
PRICES = {
    "BTC/USDT": D(60000),
    "ETH/USDT": D(3000),
    "ARB/ETH": D("0.0004"),
    "ZZZ/BTC": D("0.00000100"),
    "AAA/XYZ": D(2),
}


def test_an_asset_is_priced_through_any_hub_the_planner_trades_through() -> None:
    assert price_in_quote("ARB", "USDT", PRICES, MARKETS) == D("1.2")  # via ETH, not only BTC
    assert price_in_quote("ZZZ", "USDT", PRICES, MARKETS) == D("0.06")
    assert price_in_quote("AAA", "USDT", PRICES, MARKETS) is None
    assert route_markets("ARB", "USDT", MARKETS) == (MARKETS["ARB/ETH"], MARKETS["ETH/USDT"])


def test_tradable_assets_are_those_with_a_route_to_the_quote() -> None:
    assert tradable_assets("USDT", MARKETS) == {"USDT", "BTC", "ETH", "ARB", "ZZZ"}


def test_a_btc_only_holding_under_the_btc_notional_is_dust() -> None:
    """0.0001 BTC is 6 USDT: 60 ZZZ (3.60 USDT) can never be sold, so it must not count as a
    weight whose drift never clears."""
    price = price_in_quote("ZZZ", "USDT", PRICES, MARKETS)
    assert price is not None
    assert min_tradable_value("ZZZ", "USDT", price, MARKETS, PRICES) == D(6)
    valuation = value_portfolio({"USDT": D(1000), "ZZZ": D(60)}, PRICES, MARKETS, "USDT")
    zzz = valuation.holding("ZZZ")
    assert zzz is not None
    assert zzz.dust
    assert "ZZZ" not in valuation.weights()
    plan = plan_rebalance(
        balances={"USDT": D(1000), "ZZZ": D(60)},
        prices=PRICES,
        markets=MARKETS,
        targets={"USDT": D(100)},
        quote="USDT",
        threshold=D(0),
    )
    assert not plan.needs_rebalance  # the dust is left alone, not chased every run

"""Strategies: weights sum to exactly 100, caps hold, exclusions and stablecoins handled."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.market import MarketCapEntry
from bot.domain.strategies import equal_weights, fixed_weights, index_weights
from bot.errors import InvalidTargets, ValidationError

KNOWN = {"BTC", "ETH", "BNB", "SOL", "USDT", "XRP", "ADA", "DOGE", "TRX", "LINK", "DOT", "AVAX"}
ENTRIES = [
    MarketCapEntry("BTC", Decimal("1200e9"), 1),
    MarketCapEntry("ETH", Decimal("360e9"), 2),
    MarketCapEntry("USDT", Decimal("120e9"), 3, is_stablecoin=True),
    MarketCapEntry("BNB", Decimal("90e9"), 4),
    MarketCapEntry("SOL", Decimal("70e9"), 5),
    MarketCapEntry("USDC", Decimal("35e9"), 6),
    MarketCapEntry("XRP", Decimal("33e9"), 7),
    MarketCapEntry("DOGE", Decimal("21e9"), 8),
    MarketCapEntry("ADA", Decimal("16e9"), 9),
    MarketCapEntry("AVAX", Decimal("14e9"), 10),
    MarketCapEntry("TRX", Decimal("10e9"), 11),
]
TRADABLE = {"BTC", "ETH", "BNB", "SOL", "XRP", "DOGE", "ADA", "AVAX", "TRX", "USDC"}


def test_fixed_weights() -> None:
    weights = fixed_weights({"BTC": Decimal(50), "ETH": Decimal(30), "USDT": Decimal(20)}, KNOWN)
    assert sum(weights.values()) == 100
    thirds = fixed_weights(
        {"BTC": Decimal("33.33"), "ETH": Decimal("33.33"), "SOL": Decimal("33.33")}, KNOWN
    )
    assert sum(thirds.values()) == 100


def test_fixed_weights_errors_name_the_problem() -> None:
    with pytest.raises(InvalidTargets) as error:
        fixed_weights({"FOO": Decimal(50), "BAR": Decimal(50)}, KNOWN)
    assert error.value.params["assets"] == "BAR, FOO"
    with pytest.raises(InvalidTargets) as error:
        fixed_weights({"BTC": Decimal(50), "ETH": Decimal(30)}, KNOWN)
    assert error.value.params["total"] == "80"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(sorted(KNOWN)), min_size=2, max_size=12, unique=True))
def test_equal_weights_sum_to_100(assets: list[str]) -> None:
    weights = equal_weights(assets, KNOWN)
    assert sum(weights.values()) == 100
    assert max(weights.values()) - min(weights.values()) <= Decimal("0.05")


def test_index_excludes_stablecoins_and_fills_exclusions() -> None:
    weights = index_weights(ENTRIES, size=5, cap=None, exclusions={"SOL"}, tradable=TRADABLE)
    assert set(weights) == {"BTC", "ETH", "BNB", "XRP", "DOGE"}
    assert sum(weights.values()) == 100


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=2, max_value=9), st.integers(min_value=12, max_value=60))
def test_index_caps_hold_after_redistribution(size: int, cap_value: int) -> None:
    cap = Decimal(cap_value)
    if cap * size < 100:
        with pytest.raises(ValidationError):
            index_weights(ENTRIES, size=size, cap=cap, exclusions=set(), tradable=TRADABLE)
        return
    weights = index_weights(ENTRIES, size=size, cap=cap, exclusions=set(), tradable=TRADABLE)
    assert sum(weights.values()) == 100
    assert all(w <= cap for w in weights.values()), weights
    # Order by market cap is preserved among uncapped coins.
    assert weights["BTC"] >= weights[min(weights, key=weights.get)]  # type: ignore[arg-type]


def test_index_only_tradable() -> None:
    weights = index_weights(
        ENTRIES, size=3, cap=None, exclusions=set(), tradable={"ETH", "XRP", "ADA"}
    )
    assert set(weights) == {"ETH", "XRP", "ADA"}


def test_equal_weights_keep_the_users_order_and_give_the_remainder_to_the_last() -> None:
    weights = equal_weights(["SOL", "BTC", "ETH"], KNOWN)
    assert list(weights) == ["SOL", "BTC", "ETH"]
    assert weights == {"SOL": Decimal("33.33"), "BTC": Decimal("33.33"), "ETH": Decimal("33.34")}
    assert list(equal_weights(["BTC", "ETH", "BTC", "SOL"], KNOWN)) == ["BTC", "ETH", "SOL"]

"""What an exchange and the market-cap sources tell us, as plain values for every layer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Market:
    """One spot market and its trading rules, as exchangeInfo filters give them.

    `amount_step` is LOT_SIZE stepSize, `price_step` PRICE_FILTER tickSize, `min_amount` and
    `max_amount` LOT_SIZE bounds, `market_max_amount` MARKET_LOT_SIZE maxQty, `min_cost` the
    (MIN_)NOTIONAL minimum in the quote asset. Zero means "no rule"; None means "no upper bound".
    """

    symbol: str  # "BTC/USDT"
    base: str
    quote: str
    amount_step: Decimal
    price_step: Decimal
    min_amount: Decimal = Decimal(0)
    max_amount: Decimal | None = None
    market_max_amount: Decimal | None = None
    min_cost: Decimal = Decimal(0)
    active: bool = True
    spot: bool = True


@dataclass(frozen=True, slots=True)
class MarketCapEntry:
    """One coin from a market-cap ranking (CoinGecko or CoinMarketCap)."""

    symbol: str  # upper case, e.g. "BTC"
    market_cap: Decimal
    rank: int
    is_stablecoin: bool = False

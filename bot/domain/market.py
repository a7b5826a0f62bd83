"""What an exchange and the market-cap sources tell us, as plain values for every layer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

QUOTE_PRECISION_STEP = Decimal("0.00000001")  # Binance's quote asset precision is 8


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
    market_min_amount: Decimal = Decimal(0)  # MARKET_LOT_SIZE minQty

    @property
    def cost_step(self) -> Decimal:
        """How finely a buy by quote amount reaches the exchange: ccxt truncates
        quoteOrderQty to the market's price tick (not to the quote's precision), so a plan
        must round buys the same way, or 9.95 leaves as 9.9 on a 0.1 tick."""
        return self.price_step if self.price_step > 0 else QUOTE_PRECISION_STEP

    @property
    def max_order_amount(self) -> Decimal | None:
        """The largest base amount one market order may execute: LOT_SIZE and
        MARKET_LOT_SIZE maxQty both apply."""
        caps = [c for c in (self.max_amount, self.market_max_amount) if c is not None and c > 0]
        return min(caps) if caps else None


@dataclass(frozen=True, slots=True)
class MarketCapEntry:
    """One coin from a market-cap ranking (CoinGecko or CoinMarketCap)."""

    symbol: str  # upper case, e.g. "BTC"
    market_cap: Decimal
    rank: int
    is_stablecoin: bool = False

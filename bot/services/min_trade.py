"""The user's minimum trade: set per user, never below what the exchange itself accepts."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot.domain.limits import exchange_min_trade
from bot.errors import BotError
from bot.services.accounts import Account, AccountService


class BelowExchangeMinimum(BotError):
    """The amount is below the exchange's minimum trade (`minimum`, in the quote)."""

    def __init__(self, minimum: Decimal) -> None:
        super().__init__("below the exchange's minimum trade")
        self.minimum = minimum


class MinTradeService:
    def __init__(self, accounts: AccountService, hubs: Any) -> None:
        self._accounts = accounts
        self._hubs = hubs

    async def exchange_minimum(self, account: Account) -> Decimal:
        """The smallest trade the user's exchange takes for their coins (shared markets)."""
        markets = await self._hubs.get(account.exchange_id).markets()
        strategy = account.strategy
        return exchange_min_trade(markets, strategy.quote, set(strategy.weights) - {strategy.quote})

    async def change(self, account: Account, amount: Decimal) -> Account:
        """Store the user's minimum trade; BelowExchangeMinimum when the exchange would refuse
        such trades anyway."""
        minimum = await self.exchange_minimum(account)
        if amount < minimum:
            raise BelowExchangeMinimum(minimum)
        return await self._accounts.set_min_trade(account.user_id, amount)

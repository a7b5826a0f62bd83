"""The snapshot phase of a run: markets, prices, balances and targets, read once."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bot.domain.market import Market
from bot.domain.strategies import equal_weights, fixed_weights, index_weights
from bot.errors import NotConfigured
from bot.services.accounts import Account, Credentials

DEFAULT_PAPER_AMOUNT = Decimal(1000)  # a paper wallet without keys: this much of the quote


@dataclass
class Snapshot:
    """Everything a plan is made from, read once per run."""

    account: Account
    markets: dict[str, Market]
    prices: dict[str, Decimal]
    balances: dict[str, Decimal]
    targets: dict[str, Decimal]


async def target_weights(
    account: Account,
    markets: dict[str, Market],
    market_caps: Callable[[int], Awaitable[list[Any]]],
) -> dict[str, Decimal]:
    """The user's strategy as weights today (an index follows the current ranking)."""
    strategy = account.strategy
    if not strategy.is_set:
        raise NotConfigured("Set your targets first, e.g. /targets BTC 50 ETH 30 USDT 20")
    known = {m.base for m in markets.values()} | {m.quote for m in markets.values()}
    if strategy.kind == "index":
        entries = await market_caps(account.user_id)
        tradable = {m.base for m in markets.values() if m.quote == strategy.quote and m.active}
        return index_weights(
            entries,
            size=strategy.index_size or 10,
            cap=strategy.index_cap,
            exclusions=set(strategy.exclusions),
            tradable=tradable,
        )
    if strategy.kind == "equal":
        return equal_weights(list(strategy.weights), known)
    return fixed_weights(strategy.weights, known)


async def read_snapshot(
    hubs: Any,
    account: Account,
    credentials: Credentials | None,
    market_caps: Callable[[int], Awaitable[list[Any]]],
    *,
    with_targets: bool = True,
) -> Snapshot:
    """Shared markets and prices, the balances a plan may use, today's target weights (none
    when not `with_targets`: holdings only).

    Live: the account's free balances. Dry-run: the paper wallet; a new one starts from the
    real balances, or (no keys yet) from DEFAULT_PAPER_AMOUNT of the quote."""
    hub = hubs.get(credentials.exchange_id if credentials else account.exchange_id)
    markets = await hub.markets()
    prices = await hub.prices()
    if account.dry_run and account.paper_balances is not None:
        balances = dict(account.paper_balances)
    elif credentials is not None:
        async with hub.private(
            credentials.api_key, credentials.secret, credentials.passphrase
        ) as ex:
            balances = dict((await ex.fetch_balances()).free)
    else:
        balances = {account.strategy.quote: DEFAULT_PAPER_AMOUNT}
    targets = await target_weights(account, markets, market_caps) if with_targets else {}
    return Snapshot(account, markets, prices, balances, targets)

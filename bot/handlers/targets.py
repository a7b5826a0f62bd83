"""/targets (fixed or equal weights), /index (market-cap index), /threshold and /mintrade."""

from __future__ import annotations

import unicodedata
from dataclasses import replace
from decimal import Decimal
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot.db.models import StrategyKind
from bot.domain.parsing import parse_amount, parse_percent, parse_weights
from bot.domain.strategies import (
    check_cap,
    equal_weights,
    fixed_weights,
    index_selection,
    index_weights,
)
from bot.domain.valuation import tradable_assets
from bot.errors import InvalidTargets, ValidationError
from bot.handlers.base import BotContext, handles_user_errors, reply
from bot.services.accounts import Account, Strategy
from bot.services.min_trade import BelowExchangeMinimum
from bot.views import targets as views

MAX_INDEX_SIZE = 50
MAX_LISTED = 50  # assets in `/targets equal`, exclusions in `/index`
MAX_SYMBOL = 15
# Keywords as typed in either language: `/targets порівну BTC ETH`, `/index 10 макс 25 без DOGE`.
EQUAL_WORDS = frozenset({"equal", "порівну"})
INDEX_WORDS = {"cap": "cap", "max": "cap", "макс": "cap", "exclude": "exclude", "без": "exclude"}


def _text(context: BotContext) -> str:
    return " ".join(context.args or []).strip()


def asset_symbol(word: str) -> str:
    """An asset symbol as typed, NFKC-normalized (full-width ＢＴＣ is BTC); anything that is
    not then plain ASCII letters and digits is refused, so a look-alike such as DОGE (with a
    Cyrillic О) never passes for DOGE."""
    symbol = unicodedata.normalize("NFKC", word).strip(",")
    if not symbol.isascii() or not symbol.isalnum() or len(symbol) > MAX_SYMBOL:
        raise ValidationError(
            "{asset} is not an asset symbol: use Latin letters and digits, e.g. DOGE",
            asset=word[:20],
        )
    return symbol.upper()


def _symbols(words: list[str]) -> list[str]:
    words = [word for word in words if word.strip(",")]
    if len(words) > MAX_LISTED:
        raise ValidationError(
            "At most {count} assets. Example: /targets BTC 50 ETH 30 USDT 20", count=MAX_LISTED
        )
    return [asset_symbol(word) for word in words]


def _ascii_weights(text: str) -> str:
    """The weights text NFKC-normalized; a non-ASCII word (a look-alike symbol) refused."""
    text = unicodedata.normalize("NFKC", text)
    for word in text.split():
        if not word.isascii():
            asset_symbol(word)  # raises with the word in the message
    return text


async def _known_assets(context: BotContext, account: Account) -> tuple[set[str], set[str]]:
    """Assets the exchange lists, and those with an active market against the quote."""
    markets = await context.services.hubs.get(account.exchange_id).markets()
    known = {m.base for m in markets.values()} | {m.quote for m in markets.values()}
    quote = account.strategy.quote
    tradable = {m.base for m in markets.values() if m.quote == quote and m.active} | {quote}
    return known, tradable


async def _refuse_untradable(
    context: BotContext, account: Account, weights: dict[str, Decimal]
) -> None:
    """A target the bot cannot trade (and so cannot price) would make every run trade the
    others back to their exact targets: refuse it now, naming it."""
    markets = await context.services.hubs.get(account.exchange_id).markets()
    quote = account.strategy.quote
    stuck = sorted(set(weights) - tradable_assets(quote, markets))
    if stuck:
        raise InvalidTargets(
            "These assets have no market against {quote} on the exchange, directly or through "
            "a major coin, so I could neither price nor trade them: {assets}.",
            quote=quote,
            assets=", ".join(stuck),
        )


def _strategy(account: Account, **changes: Any) -> Strategy:
    """The account's strategy with `changes`; index settings reset unless given."""
    reset: dict[str, Any] = {"index_size": None, "index_cap": None, "exclusions": ()}
    return replace(account.strategy, **(reset | changes))


@handles_user_errors
async def targets_command(update: Update, context: BotContext) -> None:
    """Show the targets, or set fixed (`BTC 50 ETH 50`) or equal (`equal BTC ETH`) weights."""
    account = context.require_account()
    text = _text(context)
    if not text:
        await reply(update, views.current_targets(account))
        return
    known, _tradable = await _known_assets(context, account)
    words = text.split()
    if words[0].lower() in EQUAL_WORDS:
        assets = _symbols(words[1:])
        if len(assets) < 2:
            raise ValidationError("Name at least two assets, e.g. /targets equal BTC ETH SOL")
        weights = equal_weights(assets, known)
        kind = StrategyKind.EQUAL.value
    else:
        weights = fixed_weights(parse_weights(_ascii_weights(text)), known)
        kind = StrategyKind.FIXED.value
    await _refuse_untradable(context, account, weights)
    await context.services.accounts.set_strategy(
        account.user_id, _strategy(account, kind=kind, weights=weights)
    )
    await reply(update, views.targets_set(weights, kind))


def parse_index_args(words: list[str]) -> tuple[int, Decimal | None, list[str]]:
    """`10 cap 25 exclude DOGE SHIB` -> (10, 25, ["DOGE", "SHIB"])."""
    if not words or not words[0].isdecimal():
        raise ValidationError("Say how many coins, e.g. /index 10 cap 25 exclude DOGE")
    size = int(words[0])
    if not 2 <= size <= MAX_INDEX_SIZE:
        raise ValidationError(
            "The index size must be between 2 and {max}. Example: /index 10", max=MAX_INDEX_SIZE
        )
    cap: Decimal | None = None
    exclusions: list[str] = []
    mode = ""
    for word in words[1:]:
        lowered = word.lower().strip(",")
        if lowered in INDEX_WORDS:
            mode = INDEX_WORDS[lowered]
        elif mode == "cap" and cap is None:
            cap = parse_percent(word)
            if cap <= 0:
                raise ValidationError("The cap must be above 0%. Example: /index 10 cap 25")
        elif mode == "exclude":
            exclusions.append(asset_symbol(word))
            if len(exclusions) > MAX_LISTED:
                raise ValidationError(
                    "At most {count} assets. Example: /targets BTC 50 ETH 30 USDT 20",
                    count=MAX_LISTED,
                )
        else:
            raise ValidationError(
                "I did not understand {word}. Example: /index 10 cap 25 exclude DOGE",
                word=word[:20],
            )
    if cap is not None:
        check_cap(cap, size)
    return size, cap, exclusions


@handles_user_errors
async def index_command(update: Update, context: BotContext) -> None:
    """Follow the top N by market cap, with an optional cap and exclusions."""
    account = context.require_account()
    words = list(context.args or [])
    if not words:
        await reply(update, views.index_usage())
        return
    size, cap, exclusions = parse_index_args(words)
    _known, tradable = await _known_assets(context, account)
    entries = await context.services.rebalancer.market_caps(account.user_id)
    weights = index_weights(
        entries, size=size, cap=cap, exclusions=set(exclusions), tradable=tradable
    )
    _chosen, skipped = index_selection(
        entries, size=size, exclusions=set(exclusions), tradable=tradable
    )
    await context.services.accounts.set_strategy(
        account.user_id,
        _strategy(
            account,
            kind=StrategyKind.INDEX.value,
            weights=weights,
            index_size=size,
            index_cap=cap,
            exclusions=tuple(exclusions),
        ),
    )
    await reply(
        update,
        views.index_set(size, cap, exclusions, weights, skipped, account.strategy.quote),
    )


@handles_user_errors
async def threshold_command(update: Update, context: BotContext) -> None:
    """Show or set the drift threshold in percentage points."""
    account = context.require_account()
    text = _text(context)
    if not text:
        await reply(update, views.threshold_text(account))
        return
    account = await context.services.accounts.set_threshold(account.user_id, parse_percent(text))
    await reply(update, views.threshold_set(account))


@handles_user_errors
async def mintrade_command(update: Update, context: BotContext) -> None:
    """Show or set the smallest trade worth making, in the quote; not below the exchange's."""
    account = context.require_account()
    text = _text(context)
    service = context.services.min_trade
    if not text:
        minimum = await service.exchange_minimum(account)
        await reply(update, views.min_trade_text(account, minimum))
        return
    amount = parse_amount(text)
    try:
        account = await service.change(account, amount)
    except BelowExchangeMinimum as error:
        await reply(update, views.min_trade_below(account, amount, error.minimum))
        return
    await reply(update, views.min_trade_set(account))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("targets", targets_command))
    application.add_handler(CommandHandler("index", index_command))
    application.add_handler(CommandHandler("threshold", threshold_command))
    application.add_handler(CommandHandler("mintrade", mintrade_command))

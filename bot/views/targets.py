"""Texts of /targets, /index, /threshold and /mintrade."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from bot.domain.strategies import SkippedCoin
from bot.i18n import _, fmt_decimal, fmt_money, ngettext
from bot.services.accounts import Account, Strategy
from bot.views.common import escape
from bot.views.status import strategy_line


def weights_table(weights: dict[str, Decimal], *, in_order: bool = False) -> str:
    """One line per asset, largest first; `in_order` keeps the order given (equal weights)."""
    rows = list(weights.items())
    if not in_order:
        rows.sort(key=lambda item: (-item[1], item[0]))
    return "\n".join(f"• {escape(asset)}: {fmt_decimal(weight)}%" for asset, weight in rows)


def _kind_line(strategy: Strategy) -> str:
    """What the strategy is, without the weights (the table below lists them)."""
    if strategy.weights and strategy.kind == "equal":
        return _("equal weights")
    if strategy.weights and strategy.kind == "fixed":
        return _("fixed weights")
    return strategy_line(strategy)


def current_targets(account: Account) -> str:
    strategy = account.strategy
    lines = [_("<b>Targets</b>: {strategy}").format(strategy=_kind_line(strategy))]
    if strategy.weights:
        lines.append(weights_table(strategy.weights, in_order=strategy.kind == "equal"))
    lines.append(
        _("Threshold: {threshold} points. Quote asset: {quote}.").format(
            threshold=fmt_decimal(strategy.threshold), quote=strategy.quote
        )
    )
    lines.append(
        _(
            "Set fixed weights: /targets BTC 50 ETH 30 USDT 20\n"
            "Equal weights: /targets equal BTC ETH SOL\n"
            "Market-cap index: /index 10 cap 25 exclude DOGE"
        )
    )
    return "\n".join(lines)


def targets_set(weights: dict[str, Decimal], kind: str) -> str:
    title = _("Equal weights set:") if kind == "equal" else _("Target weights set:")
    table = weights_table(weights, in_order=kind == "equal")
    return "\n".join([title, table, _("Preview a rebalance with /rebalance.")])


def index_set(
    size: int,
    cap: Decimal | None,
    exclusions: list[str],
    weights: dict[str, Decimal],
    skipped: Sequence[SkippedCoin] = (),
    quote: str = "USDT",
) -> str:
    """What the index holds (N coins, or fewer only when fewer qualify), what it passed over
    and why, and the stablecoin rule."""
    head = ngettext(
        "Index set: top {size} coin by market cap",
        "Index set: top {size} coins by market cap",
        len(weights),
    ).format(size=len(weights))
    if cap is not None:
        head += ", " + _("cap {cap}%").format(cap=fmt_decimal(cap))
    if exclusions:
        head += ", " + _("excluding {assets}").format(
            assets=", ".join(escape(a) for a in exclusions)
        )
    lines = [head + ".", _("Weights today:"), weights_table(weights)]
    if len(weights) < size:
        lines.append(
            _("Only {count} coins qualify, not {size}.").format(count=len(weights), size=size)
        )
    no_market = [c.symbol for c in skipped if c.reason == "no_market"]
    if no_market:
        lines.append(
            _("Skipped, next-ranked coins took their place:")
            + "\n"
            + "\n".join(
                "• "
                + _("{asset}: no {asset}/{quote} market").format(
                    asset=escape(a), quote=escape(quote)
                )
                for a in no_market
            )
        )
    lines.append(_("Stablecoins (USDT, USDC, DAI, …) are never part of the index."))
    return "\n".join(lines)


def index_usage() -> str:
    return _(
        "Follow a market-cap index: /index 10 (top 10), optional cap 25 (max weight %) and "
        "exclude DOGE SHIB. Example: /index 10 cap 25 exclude DOGE"
    )


def threshold_text(account: Account) -> str:
    return _(
        "Threshold: {threshold} percentage points. I trade when an asset is further than this "
        "from its target (holding 45% against a 50% target is 5 points). Change it with e.g. "
        "/threshold 5; 0 trades at every scheduled run."
    ).format(threshold=fmt_decimal(account.strategy.threshold))


def threshold_set(account: Account) -> str:
    return _("Threshold set to {threshold} percentage points.").format(
        threshold=fmt_decimal(account.strategy.threshold)
    )


def min_trade_text(account: Account, exchange_minimum: Decimal) -> str:
    quote = account.strategy.quote
    return _(
        "Minimum trade: {minimum}. Smaller orders are left out of a rebalance. The exchange's "
        "own minimum is {exchange}. Change it with e.g. /mintrade 5"
    ).format(
        minimum=fmt_money(account.strategy.min_trade, quote),
        exchange=fmt_money(exchange_minimum, quote),
    )


def min_trade_set(account: Account) -> str:
    return _("Minimum trade set to {minimum}.").format(
        minimum=fmt_money(account.strategy.min_trade, account.strategy.quote)
    )


def min_trade_below(account: Account, amount: Decimal, exchange_minimum: Decimal) -> str:
    quote = account.strategy.quote
    return _(
        "{amount} is below the exchange's minimum trade of {minimum}: it refuses smaller "
        "orders. Nothing was changed. Example: /mintrade {example}"
    ).format(
        amount=fmt_money(amount, quote),
        minimum=fmt_money(exchange_minimum, quote),
        example=fmt_decimal(exchange_minimum),
    )

"""Run reports: the message after a run (scheduled or confirmed), and why automation paused."""

from __future__ import annotations

from bot.db.models import NotifyLevel, RunStatus, RunTrigger
from bot.i18n import _, fmt_decimal, fmt_money, ngettext
from bot.services.run_result import OrderOutcome, Problem, RunResult
from bot.views.common import escape


def _order_line(order: OrderOutcome, quote: str) -> str:
    base, _slash, market_quote = order.symbol.partition("/")
    base = escape(base)
    amount = fmt_decimal(order.filled)
    cost = fmt_money(order.cost, market_quote or quote)
    if order.status in ("failed", "rejected") or (
        order.filled == 0 and order.status != "simulated"
    ):
        text = _("{side} {symbol}: not filled").format(
            side=_("Buy") if order.side == "buy" else _("Sell"), symbol=escape(order.symbol)
        )
        return "✖ " + text
    if order.side == "sell":
        line = _("Sold {amount} {asset} for {cost}").format(amount=amount, asset=base, cost=cost)
    else:
        line = _("Bought {amount} {asset} for {cost}").format(amount=amount, asset=base, cost=cost)
    if order.status == "expired" or (order.amount and order.filled < order.amount):
        line += " " + _("(partly filled)")
    return "• " + line


def _assets(detail: dict[str, object]) -> list[object]:
    assets = detail.get("assets")
    return list(assets) if isinstance(assets, list | tuple) else []


def result_text_for_problem(problem: Problem) -> str:
    """The explanation of a problem met before any run was recorded (e.g. during a preview)."""
    return _problem_text(problem, {})


def _problem_text(problem: Problem | None, detail: dict[str, object]) -> str:
    if problem == Problem.AUTH:
        return _(
            "Your exchange key stopped working (wrong, expired or deleted). "
            "Automatic rebalancing is paused. Connect a working key with /keys, then send /run."
        )
    if problem == Problem.PERMISSION:
        return _(
            "Your exchange key lacks a permission it needs (reading and spot trading). "
            "Automatic rebalancing is paused. Fix the key's permissions or connect another "
            "with /keys, then send /run."
        )
    if problem == Problem.FUNDS:
        return _("The exchange reported insufficient funds for an order. I will re-plan next time.")
    if problem == Problem.UNAVAILABLE:
        return _("The exchange is unavailable right now. I will try again at the next run.")
    if problem == Problem.PARTIAL:
        return _("Some orders filled only in part. The next run re-plans from your real balances.")
    if problem == Problem.REJECTED:
        return _("The exchange refused an order (market rules). The other orders went ahead.")
    if problem == Problem.MARKET_MOVED:
        return _("Prices moved since the preview, so nothing was traded. Send /rebalance again.")
    if problem == Problem.NO_PRICES:
        return _("Some of your assets cannot be valued on the exchange: {assets}.").format(
            assets=", ".join(escape(a) for a in _assets(detail))
        )
    return _("Something went wrong on our side. Nothing more was traded; please try later.")


def result_text(result: RunResult) -> str:
    """The full report of a run, whoever asked for it."""
    lines: list[str] = []
    prefix = _("[Dry run] ") if result.dry_run else ""
    status = result.status
    if status == RunStatus.SKIPPED.value and result.problem is None:
        lines.append(
            prefix
            + _("No rebalance needed: largest drift {drift} points, threshold {threshold}.").format(
                drift=fmt_decimal(result.max_drift or 0, places=1),
                threshold=fmt_decimal(result.threshold or 0, places=1),
            )
        )
    elif status == RunStatus.SUCCEEDED.value:
        lines.append(
            prefix + (_("Rebalance simulated.") if result.dry_run else _("Rebalance done."))
        )
    elif status == RunStatus.PARTIAL.value:
        lines.append(prefix + _("Rebalance partly done."))
    elif status == RunStatus.INTERRUPTED.value:
        lines.append(
            prefix
            + _(
                "A rebalance was interrupted by a restart. Nothing was sent twice; "
                "the next run re-plans from your real balances."
            )
        )
    else:
        lines.append(prefix + _("Rebalance failed."))
    filled = [order for order in result.orders]
    if filled:
        lines.append(
            ngettext("{count} order:", "{count} orders:", len(filled)).format(count=len(filled))
        )
        lines.extend(_order_line(order, result.quote) for order in filled)
    if result.value_before is not None and result.value_after is not None and result.orders:
        lines.append(
            _("Value: {before} → {after}").format(
                before=fmt_money(result.value_before, result.quote),
                after=fmt_money(result.value_after, result.quote),
            )
        )
    elif result.value_before is not None:
        lines.append(_("Value: {value}").format(value=fmt_money(result.value_before, result.quote)))
    if result.problem is not None:
        lines.append(_problem_text(result.problem, result.detail))
    return "\n".join(lines)


def result_message(result: RunResult, level: str) -> str | None:
    """The report of a run, or None: a manual run is always reported (the user asked and is
    waiting for it); a scheduled one only as the user's /notify choice wants."""
    if result.trigger == RunTrigger.MANUAL.value:
        return result_text(result)
    if level == NotifyLevel.OFF.value:
        return None
    is_error = result.status == RunStatus.FAILED.value or result.problem not in (
        None,
        Problem.PARTIAL,
    )
    if level == NotifyLevel.ERRORS.value and not is_error and result.problem != Problem.PARTIAL:
        return None
    if level == NotifyLevel.TRADES.value and not (result.traded or is_error):
        return None
    return result_text(result)


NOT_ALLOWED = "not_allowed"  # the user was taken off ALLOWED_USER_IDS


def paused(reason: str, result: RunResult | None) -> str:
    """Automation stopped by itself: always told, because it needs the user to act."""
    if result is not None and result.problem in (Problem.AUTH, Problem.PERMISSION):
        return result_text(result)
    if reason == NOT_ALLOWED:
        return _(
            "Automatic rebalancing is stopped: the operator no longer lets you use this bot. "
            "Your keys and history are kept until you remove them: /deletekeys erases your "
            "exchange keys, /deleteme everything."
        )
    if reason == "not_configured":
        return _(
            "Automatic rebalancing is paused: connect your exchange with /keys and set "
            "targets with /targets, then send /run."
        )
    return _("Automatic rebalancing is paused. Send /run to start it again.")

"""Run reports: the message after a run (scheduled or confirmed), and why automation paused."""

from __future__ import annotations

from decimal import Decimal

from telegram import InlineKeyboardMarkup

from bot.db.models import NotifyLevel, RunStatus, RunTrigger
from bot.i18n import N_, LazyString, _, fmt_datetime, fmt_decimal, fmt_money, ngettext
from bot.services.run_result import OrderOutcome, Problem, RunResult
from bot.views.common import escape
from bot.views.start import ButtonFactory


def _order_line(order: OrderOutcome, quote: str) -> str:
    base, _slash, market_quote = order.symbol.partition("/")
    base = escape(base)
    amount = fmt_decimal(order.filled)
    cost = fmt_money(order.cost, market_quote or quote)
    side = _("Buy") if order.side == "buy" else _("Sell")
    if not order.settled:  # the answer was lost: it may have executed
        return "⏳ " + _("{side} {symbol}: the exchange has not confirmed it yet").format(
            side=side, symbol=order.symbol
        )
    if order.status in ("failed", "rejected", "not_sent", "not_placed") or (
        order.filled == 0 and order.status != "simulated"
    ):
        text = _("{side} {symbol}: not filled").format(side=side, symbol=escape(order.symbol))
        return "✖ " + text
    if order.side == "sell":
        line = _("Sold {amount} {asset} for {cost}").format(amount=amount, asset=base, cost=cost)
    else:
        line = _("Bought {amount} {asset} for {cost}").format(amount=amount, asset=base, cost=cost)
    if order.amount and order.filled < order.amount:
        line += " " + _("(partly filled: {filled} of {intended} {asset})").format(
            filled=amount, intended=fmt_decimal(order.amount), asset=base
        )
    elif order.status == "expired":
        line += " " + _("(partly filled)")
    return "• " + line


def run_title(result: RunResult) -> str:
    """Which run, who started it, and in which mode: the first line of every report."""
    mode = _("Dry run (paper wallet)") if result.dry_run else _("LIVE")
    number = str(result.number) if result.number is not None else "—"
    if result.trigger == RunTrigger.MANUAL.value:
        title = _("Manual run #{number}").format(number=number)
    else:
        title = _("Scheduled run #{number}").format(number=number)
    return "<b>" + title + "</b> · " + mode


def reasons(result: RunResult) -> list[str]:
    """Why the run traded: each asset whose drift passed the threshold."""
    threshold = result.threshold or Decimal(0)
    lines = []
    for asset, weight, target in result.legs_past_threshold:
        drift = weight - target
        lines.append(
            _("{asset} {weight} % vs {target} %, {drift} points > {threshold}").format(
                asset=escape(asset),
                weight=fmt_decimal(weight, places=1),
                target=fmt_decimal(target, places=1),
                drift=("+" if drift > 0 else "") + fmt_decimal(drift, places=1),
                threshold=fmt_decimal(threshold, places=1),
            )
        )
    if not lines:
        return []
    return [_("Why: {reasons}").format(reasons="; ".join(lines))]


def _assets(detail: dict[str, object]) -> list[object]:
    assets = detail.get("assets")
    return list(assets) if isinstance(assets, list | tuple) else []


def result_text_for_problem(problem: Problem) -> str:
    """The explanation of a problem met before any run was recorded (e.g. during a preview)."""
    return _problem_text(problem, {})


# Each problem's explanation, as a msgid translated when shown.
PROBLEM_TEXTS: dict[Problem, LazyString] = {
    Problem.AUTH: N_(
        "Your exchange key stopped working (wrong, expired or deleted). "
        "Automatic rebalancing is paused. Connect a working key with /keys, then send /run."
    ),
    Problem.PERMISSION: N_(
        "Your exchange key lacks a permission it needs (reading and spot trading). "
        "Automatic rebalancing is paused. Fix the key's permissions or connect another "
        "with /keys, then send /run."
    ),
    Problem.FUNDS: N_(
        "The exchange reported insufficient funds for an order. I will re-plan next time."
    ),
    Problem.UNAVAILABLE: N_(
        "The exchange is unavailable right now. I will try again at the next run."
    ),
    Problem.PARTIAL: N_(
        "Some orders filled only in part. The next run re-plans from your real balances."
    ),
    Problem.REJECTED: N_(
        "The exchange refused an order (market rules). The other orders went ahead."
    ),
    Problem.MARKET_MOVED: N_(
        "Prices moved since the preview, so nothing was traded. Send /rebalance again."
    ),
    Problem.UNRESOLVED: N_(
        "The exchange has not confirmed an order yet, so I am not trading more until it "
        "does. I keep checking and will tell you what happened."
    ),
    Problem.CLOCK: N_(
        "The exchange refuses the time on our server, so nothing was traded. We are on it; "
        "I will try again at the next run."
    ),
    Problem.NOT_CONFIGURED: N_(
        "Connect your exchange with /keys and set targets with /targets first."
    ),
    Problem.TARGETS: N_("Your targets cannot be used as they are. Check them with /targets."),
    Problem.HALTED: N_(
        "Trading is paused by the bot's operator for everyone right now. Nothing more was "
        "traded; I will try again at the next run once it is resumed."
    ),
}


def _problem_text(problem: Problem | None, detail: dict[str, object]) -> str:
    if problem in (Problem.TARGETS, Problem.NOT_CONFIGURED) and detail.get("message"):
        params = detail.get("params")
        return _(str(detail["message"])).format(**(params if isinstance(params, dict) else {}))
    if problem == Problem.NO_PRICES:
        return _("Some of your assets cannot be valued on the exchange: {assets}.").format(
            assets=", ".join(escape(a) for a in _assets(detail))
        )
    if problem is not None and problem in PROBLEM_TEXTS:
        return str(PROBLEM_TEXTS[problem])
    return _("Something went wrong on our side. Nothing more was traded; please try later.")


def text_of_problem(result: RunResult) -> str:
    """Why a run did not simply succeed, in words the user can act on."""
    return _problem_text(result.problem, result.detail)


def result_text(result: RunResult) -> str:
    """The full report of a run, whoever asked for it."""
    lines: list[str] = [run_title(result)]
    prefix = ""
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
    elif status == RunStatus.UNRESOLVED.value:
        lines.append(prefix + _("Rebalance stopped: waiting for the exchange to confirm an order."))
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
    if result.orders:
        lines.extend(reasons(result))
    filled = list(result.orders)
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


def is_quiet(result: RunResult) -> bool:
    """A scheduled run that found nothing to do: told at most once a day."""
    return result.status == RunStatus.SKIPPED.value and result.problem is None


def failed(result: RunResult) -> bool:
    return result.status == RunStatus.FAILED.value or result.problem not in (None, Problem.PARTIAL)


def run_keyboard(
    result: RunResult, button: ButtonFactory, *, can_pause: bool = True
) -> InlineKeyboardMarkup | None:
    """[Details] opens the run; a scheduled run adds [Pause auto] (unless automation already
    paused itself); a failure [Retry now]."""
    row = []
    if result.number is not None:
        row.append(button(_("Details"), "run", str(result.number)))
    if can_pause and result.trigger != RunTrigger.MANUAL.value:
        row.append(button(_("Pause auto"), "pause", ""))
    rows = [row] if row else []
    if failed(result) and result.problem not in (Problem.AUTH, Problem.PERMISSION, Problem.HALTED):
        rows.append([button(_("Retry now"), "retry", "")])
    return InlineKeyboardMarkup(rows) if rows else None


def revision_text(result: RunResult, timezone: str) -> str:
    """A reported run whose outcome the exchange has since made known: said once."""
    head = _("Update on the rebalance of {time}: the exchange has answered.").format(
        time=fmt_datetime(result.started_at, timezone) if result.started_at else "—"
    )
    return head + "\n" + result_text(result)


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
    if reason == "errors":
        lines = [
            _(
                "Automatic rebalancing is paused: the last runs failed one after another. "
                "Fix what the message below says, then send /run."
            )
        ]
        if result is not None:
            lines.append(result_text(result))
        return "\n".join(lines)
    if reason == "not_configured" and result is not None and result.detail.get("message"):
        return "\n".join(
            [_("Automatic rebalancing is paused."), _problem_text(result.problem, result.detail)]
        )
    if reason == "not_configured":
        return _(
            "Automatic rebalancing is paused: connect your exchange with /keys and set "
            "targets with /targets, then send /run."
        )
    return _("Automatic rebalancing is paused. Send /run to start it again.")

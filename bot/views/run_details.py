"""One run opened from /history or a push: its orders, fills, fees, drift and value."""

from __future__ import annotations

from decimal import Decimal

from bot.i18n import _, fmt_datetime, fmt_decimal, fmt_money
from bot.services.run_result import OrderOutcome, RunResult
from bot.views import tables
from bot.views.common import escape
from bot.views.notifications import failed, reasons, run_title, text_of_problem
from bot.views.status import status_name

FAILED = ("failed", "rejected", "not_sent", "not_placed")


def order_status(order: OrderOutcome) -> str:
    """Filled, partly filled x of y, failed and why, or still unknown."""
    if not order.settled:
        return _("not confirmed by the exchange yet")
    if order.status in FAILED or (order.filled == 0 and order.status != "simulated"):
        why = order.error or order.status
        return _("failed ({why})").format(why=why)
    if order.amount and order.filled < order.amount:
        return _("partly filled: {filled} of {intended}").format(
            filled=tables.amount(order.filled), intended=tables.amount(order.amount)
        )
    if order.status == "simulated":
        return _("filled (paper)")
    return _("filled")


def _fee_rows(order: OrderOutcome, quote: str) -> list[list[str]]:
    """The fee in each coin it was paid in, then its value in the quote."""
    if not order.fees:
        return [[_("Fee"), "—"]]
    rows = [
        [_("Fee") if i == 0 else "", f"{tables.amount(v)} {tables.short(c)}"]
        for i, (c, v) in enumerate(sorted(order.fees.items()))
    ]
    if order.fee_quote is not None and set(order.fees) != {quote}:
        rows.append(["", "≈ " + tables.fixed(order.fee_quote, 2) + " " + tables.short(quote)])
    return rows


def order_block(order: OrderOutcome, quote: str) -> str:
    """A few short label-value lines: an order's columns do not fit a phone's width."""
    base, _slash, market_quote = order.symbol.partition("/")
    side = _("Sell") if order.side == "sell" else _("Buy")
    rows = [
        [_("Amount"), f"{tables.amount(order.filled)} {tables.short(base)}"],
        [
            _("Price"),
            "—" if order.price is None else tables.money(order.price, market_quote or quote),
        ],
        [
            _("Cost"),
            f"{tables.money(order.cost, market_quote or quote)} "
            + tables.short(market_quote or quote),
        ],
        *_fee_rows(order, quote),
    ]
    head = f"{side} {order.symbol}: {order_status(order)}"
    return "<b>" + escape(head) + "</b>\n" + tables.table(None, rows, right=[False, False])


def run_details_text(result: RunResult, timezone: str, *, seconds: bool = True) -> str:
    lines = [run_title(result)]
    if result.started_at is not None:
        lines.append(
            _("{time} · {status}").format(
                time=fmt_datetime(result.started_at, timezone, seconds=seconds),
                status=status_name(result.status),
            )
        )
    lines.extend(reasons(result))
    if not result.orders:
        lines.append(_("No orders."))
    for order in result.orders:
        lines.append(order_block(order, result.quote))
    before = result.max_drift
    after = result.drift_after
    if before is not None:
        lines.append(
            _("Largest drift: {before} → {after} points.").format(
                before=fmt_decimal(before, places=1),
                after="—" if after is None else fmt_decimal(after, places=1),
            )
        )
    if result.value_before is not None:
        after_value = result.value_after if result.value_after is not None else result.value_before
        lines.append(
            _("Value: {before} → {after}").format(
                before=fmt_money(result.value_before, result.quote),
                after=fmt_money(after_value, result.quote),
            )
        )
    fees = sum((o.fee_quote or Decimal(0) for o in result.orders), Decimal(0))
    if result.orders:
        lines.append(_("Fees: {fees}").format(fees=fmt_money(fees, result.quote)))
    if failed(result) or result.problem is not None:
        lines.append(text_of_problem(result))
    return "\n".join(lines)


def run_not_found(number: int) -> str:
    return _("There is no run #{number}. Send /history to see your runs.").format(number=number)

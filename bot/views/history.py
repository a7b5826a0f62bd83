"""Texts of /history (pages of runs) and /performance."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.i18n import _, fmt_datetime, fmt_money, fmt_percent, ngettext
from bot.services.history import HistoryPage, Performance
from bot.views.start import ButtonFactory
from bot.views.status import status_name


def _shares_a_minute(page: HistoryPage) -> bool:
    minutes = [run.started_at.replace(second=0, microsecond=0) for run in page.runs]
    return len(set(minutes)) < len(minutes)


def history_text(page: HistoryPage, timezone: str) -> str:
    """Newest first: number, time (with seconds when two runs share a minute), trigger, mode,
    status, trades, value."""
    if not page.runs:
        return _("No runs yet. Try /rebalance.")
    lines = [
        _("<b>History</b> (page {page} of {pages})").format(page=page.page + 1, pages=page.pages)
    ]
    seconds = _shares_a_minute(page)
    for run in page.runs:
        trigger = _("manual") if run.trigger == "manual" else _("auto")
        mode = _("dry run") if run.dry_run else _("live")
        trades = ngettext("{count} trade", "{count} trades", run.trades).format(count=run.trades)
        value = run.value_after if run.value_after is not None else run.value_before
        value_text = fmt_money(value, run.quote) if value is not None else "—"
        lines.append(
            f"<b>#{run.number}</b> {fmt_datetime(run.started_at, timezone, seconds=seconds)} · "
            f"{trigger} · {mode} · {status_name(run.status)} · {trades} · {value_text}"
        )
    lines.append(_("Open a run with its button or /history #12; a page with /history 2."))
    return "\n".join(lines)


def history_keyboard(page: HistoryPage, button: ButtonFactory) -> InlineKeyboardMarkup | None:
    """A button per run (it opens the run), then ◀ ▶ between pages."""
    rows = []
    if page.runs:
        rows.append([button(f"#{run.number}", "run", str(run.number)) for run in page.runs])
    paging = []
    if page.page > 0:
        paging.append(button("◀", "hist", str(page.page - 1)))
    if page.page < page.pages - 1:
        paging.append(button("▶", "hist", str(page.page + 1)))
    if paging:
        rows.append(paging)
    return InlineKeyboardMarkup(rows) if rows else None


def history_args_hint() -> str:
    return _("Send /history, /history 2 for page 2, or /history #12 for run 12.")


def performance_text(perf: Performance, timezone: str) -> str:
    if perf.dry_run:
        title = _("<b>Performance</b> of the paper wallet (dry runs) since {time}")
    else:
        title = _("<b>Performance</b> of live trading since {time}")
    lines = [
        title.format(time=fmt_datetime(perf.started_at, timezone)),
        _("Value: {start} → {now}").format(
            start=fmt_money(perf.start_value, perf.quote),
            now=fmt_money(perf.current_value, perf.quote),
        ),
        _("Return: {pct}").format(
            pct=fmt_percent(perf.return_pct) if perf.return_pct is not None else "—"
        ),
    ]
    if perf.hold_value is not None and perf.hold_return_pct is not None:
        lines.append(
            _("Simply holding the starting portfolio: {value} ({pct})").format(
                value=fmt_money(perf.hold_value, perf.quote), pct=fmt_percent(perf.hold_return_pct)
            )
        )
    if perf.fees:
        fees = ", ".join(
            fmt_money(amount, currency) for currency, amount in sorted(perf.fees.items())
        )
    else:
        fees = _("none")
    lines.append(_("Fees paid: {fees}").format(fees=fees))
    if perf.fees:
        lines.append(
            _("Fees in total: {total}").format(total=fmt_money(perf.fees_in_quote, perf.quote))
        )
    return "\n".join(lines)


def no_performance() -> str:
    return _("No data yet: performance starts with your first run (/rebalance or /run).")


def performance_chart_title() -> str:
    return _("Portfolio value")

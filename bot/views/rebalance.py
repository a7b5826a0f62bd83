"""Texts of /portfolio and /rebalance: holdings with drift, the preview, the confirm buttons."""

from __future__ import annotations

from decimal import Decimal

from telegram import InlineKeyboardMarkup

from bot.i18n import _, fmt_decimal, fmt_money
from bot.services.run_result import Preview
from bot.views import tables
from bot.views.common import escape
from bot.views.start import ButtonFactory

PREVIEW_TTL_SECONDS = 120


def _holdings_order(preview: Preview) -> list[str]:
    assets = set(preview.holdings) | set(preview.target_weights)
    return sorted(assets, key=lambda a: (-preview.holdings.get(a, (Decimal(0), Decimal(0)))[1], a))


def portfolio_text(preview: Preview) -> str:
    """Two narrow tables (a phone is ~32 columns): what is held and its value, then weights
    against targets; without targets the second is left out and the next step named."""
    if preview.dry_run:
        title = _("<b>Portfolio</b> (paper wallet, dry run): {value}")
    else:
        title = _("<b>Portfolio</b>: {value}")
    lines = [title.format(value=fmt_money(preview.total_value, preview.quote))]
    assets = _holdings_order(preview)
    zero = (Decimal(0), Decimal(0))
    held = [
        [
            tables.short(asset),
            tables.amount(preview.holdings.get(asset, zero)[0]),
            tables.fixed(preview.holdings.get(asset, zero)[1], 2),
        ]
        for asset in assets
    ]
    lines.append(
        tables.table(
            [_("Asset"), _("Amount"), tables.short(preview.quote)],
            held,
            right=[False, True, True],
        )
    )
    if preview.target_weights:
        weights = []
        for asset in assets:
            current = preview.current_weights.get(asset, Decimal(0))
            target = preview.target_weights.get(asset, Decimal(0))
            drift = preview.drift_before.get(asset, current - target)
            weights.append(
                [
                    tables.short(asset),
                    tables.fixed(current, 2),
                    tables.fixed(target, 2),
                    tables.fixed(drift, 2, signed=True),
                ]
            )
        lines.append(
            tables.table(
                [_("Asset"), _("Now %"), _("Target"), _("Drift")],
                weights,
                right=[False, True, True, True],
            )
        )
    if preview.unpriced:
        lines.append(
            _("Not valued (no market): {assets}").format(
                assets=", ".join(escape(asset) for asset in preview.unpriced)
            )
        )
    if preview.dust:
        lines.append(
            _("Too small to trade, left out of the drift: {assets}").format(
                assets=", ".join(escape(asset) for asset in preview.dust)
            )
        )
    if not preview.target_weights:
        lines.append(
            _(
                "No targets yet. Set them with /targets BTC 50 ETH 30 USDT 20 or follow an "
                "index with /index 10."
            )
        )
        return "\n".join(lines)
    lines.append(
        _("Largest drift: {drift} points (threshold {threshold}).").format(
            drift=fmt_decimal(preview.max_drift, places=1),
            threshold=fmt_decimal(preview.threshold, places=1),
        )
    )
    return "\n".join(lines)


def chart_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(_("Chart"), "chart", "alloc")]])


def chart_title() -> str:
    return _("Current vs target allocation")


def chart_labels() -> tuple[str, str]:
    return _("Current"), _("Target")


def mode_label(dry_run: bool) -> str:
    """The run's mode as every report and preview names it."""
    return _("DRY RUN (paper wallet)") if dry_run else _("LIVE: real orders")


def _side(side: str) -> str:
    return _("Sell") if side == "sell" else _("Buy")


def legs_table(preview: Preview) -> str:
    """Sells first (the plan's order): side, amount in the market's base, approximate value."""
    rows = [
        [
            _side(leg.side),
            tables.amount(leg.base_amount) if leg.base_amount is not None else "?",
            tables.short(leg.base),
            tables.fixed(leg.value, 2),
        ]
        for leg in preview.legs
    ]
    header = [_("Order"), _("Amount"), "", "≈" + tables.short(preview.quote)]
    return tables.table(header, rows, right=[False, True, False, True])


def preview_text(preview: Preview) -> str:
    lines = [_("<b>Rebalance preview</b> — {mode}").format(mode=mode_label(preview.dry_run))]
    if not preview.legs:
        if preview.needs_rebalance:
            # Say whose minimum stopped it: the user can lower theirs with /mintrade.
            mine = any(d.reason == "below_user_min" for d in preview.dropped)
            if mine:
                lines.append(_("Nothing can be traded:"))
                lines += _dropped_lines(preview)
            else:
                lines.append(
                    _("Nothing can be traded: every trade is below the exchange minimums.")
                )
        else:
            lines.append(
                _(
                    "No rebalance needed: largest drift {drift} points, threshold {threshold}."
                ).format(
                    drift=fmt_decimal(preview.max_drift, places=1),
                    threshold=fmt_decimal(preview.threshold, places=1),
                )
            )
        return "\n".join(lines)
    lines.append(legs_table(preview))
    lines.append(
        _("Estimated fees: {fees}").format(fees=fmt_money(preview.estimated_fees, preview.quote))
    )
    after = max((abs(v) for v in preview.drift_after.values()), default=Decimal(0))
    lines.append(
        _("Largest drift: {before} → {after} points.").format(
            before=fmt_decimal(preview.max_drift, places=1), after=fmt_decimal(after, places=1)
        )
    )
    lines.extend(_dropped_lines(preview))
    if preview.unsettled_orders:
        lines.append(
            _(
                "The exchange has not confirmed an earlier order yet: nothing more is traded "
                "until it does."
            )
        )
    return "\n".join(lines)


def preview_message(preview: Preview) -> str:
    """The preview as first sent: the record, plus how long it can be confirmed."""
    if not preview.legs:
        return preview_text(preview)
    return preview_text(preview) + "\n" + _("This preview expires in 2 minutes.")


def preview_with(preview_record: str, status: str) -> str:
    """The preview the user confirmed, kept, with what became of it below."""
    return preview_record + "\n\n" + status


def _dropped_lines(preview: Preview) -> list[str]:
    """Why some assets get no order: the user's own minimum (which they can change) apart from
    the exchange's minimums (which they cannot)."""
    mine = sorted({escape(d.asset) for d in preview.dropped if d.reason == "below_user_min"})
    exchange = sorted(
        {
            escape(d.asset)
            for d in preview.dropped
            if d.reason not in ("below_user_min", "within_threshold")
        }
        - set(mine)
    )
    lines = []
    if mine:
        lines.append(
            _(
                "Left out by your minimum trade of {minimum}: {assets}. Lower it with /mintrade."
            ).format(minimum=fmt_money(preview.min_trade, preview.quote), assets=", ".join(mine))
        )
    if exchange:
        lines.append(
            _("Below the exchange's minimum order, so left out: {assets}").format(
                assets=", ".join(exchange)
            )
        )
    return lines


def confirm_keyboard(button: ButtonFactory, token: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Confirm"), "rb_ok", token), button(_("Cancel"), "rb_no", token)]]
    )


def working() -> str:
    return _("Placing orders…")


def simulating() -> str:
    return _("Simulating…")


def not_traded() -> str:
    return _("Not traded: things changed since this preview.")


def preview_changed() -> str:
    return _(
        "Things changed since that preview (prices, balances, targets or the mode), so "
        "nothing was traded. Here is the plan as it stands now:"
    )


def preview_expired() -> str:
    return _("This preview has expired. Send /rebalance for a fresh one.")


def preview_cancelled() -> str:
    return _("Cancelled. Nothing was traded.")

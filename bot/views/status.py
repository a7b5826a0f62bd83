"""Texts of /status, /run, /stop, /interval, /next, /timezone and /dryrun."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from telegram import InlineKeyboardMarkup

from bot.db.types import utcnow
from bot.i18n import (
    N_,
    LazyString,
    _,
    fmt_datetime,
    fmt_decimal,
    fmt_moment,
    fmt_money,
    fmt_time_near,
    fmt_timedelta,
)
from bot.services.accounts import Account, Strategy
from bot.services.run_result import Problem
from bot.views.common import escape, exchange_name
from bot.views.notifications import result_text_for_problem
from bot.views.start import ButtonFactory

if TYPE_CHECKING:
    from bot.services.home import HomeNumbers

# Preset intervals with short labels in the user's language (`1 год`, `1 день`, `1 тиж`).
INTERVAL_CHOICES: tuple[tuple[LazyString, int], ...] = (
    (N_("1h"), 3600),
    (N_("4h"), 14400),
    (N_("12h"), 43200),
    (N_("1d"), 86400),
    (N_("1w"), 604800),
)


def interval_text(seconds: int) -> str:
    return fmt_timedelta(timedelta(seconds=seconds))


def strategy_line(strategy: Strategy) -> str:
    if not strategy.is_set:
        return _("not set (use /targets or /index)")
    if strategy.kind == "index":
        text = _("market-cap index, top {size}").format(size=strategy.index_size)
        if strategy.index_cap:
            text += ", " + _("cap {cap}%").format(cap=fmt_decimal(strategy.index_cap))
        return text
    items = list(strategy.weights.items())  # equal weights: in the order the user named them
    if strategy.kind != "equal":
        items.sort(key=lambda item: -item[1])
    weights = ", ".join(f"{escape(asset)} {fmt_decimal(weight)}%" for asset, weight in items)
    if strategy.kind == "equal":
        return _("equal weights: {weights}").format(weights=weights)
    return _("fixed weights: {weights}").format(weights=weights)


def _when(value: datetime | None, timezone: str) -> str:
    return fmt_datetime(value, timezone) if value else _("never")


def status_name(status: str) -> str:
    names = {
        "succeeded": _("succeeded"),
        "partial": _("partly done"),
        "failed": _("failed"),
        "skipped": _("no trade needed"),
        "interrupted": _("interrupted"),
        "unresolved": _("waiting for the exchange"),
        "executing": _("running"),
        "planned": _("planned"),
    }
    return names.get(status, status)


def _value_line(account: Account, home: HomeNumbers, now: datetime) -> str:
    if home.value is None:
        return _("Portfolio value: not known yet (/portfolio)")
    value = fmt_money(home.value, home.quote)
    if account.dry_run:
        text = _("Portfolio value: {value} (paper wallet)").format(value=value)
    else:
        text = _("Portfolio value: {value}").format(value=value)
    if home.as_of is not None:
        text += " " + _("(last known, {time}; the exchange is slow)").format(
            time=fmt_moment(home.as_of, account.timezone, now)
        )
    return text


def _drift_line(account: Account, home: HomeNumbers) -> str | None:
    if not account.strategy.is_set or home.max_drift is None:
        return None
    return _("Largest drift: {drift} of {threshold} points").format(
        drift=fmt_decimal(home.max_drift, places=1),
        threshold=fmt_decimal(account.strategy.threshold),
    )


def last_run_line(account: Account, now: datetime) -> str:
    """The last run of any trigger: number, time, who started it, result, and why it failed."""
    result = account.last_result
    if not result:
        return _("Last run: none yet")
    parts = []
    if result.get("number"):
        parts.append(f"#{result['number']}")
    finished = result.get("finished_at")
    if finished:
        parts.append(fmt_moment(datetime.fromisoformat(str(finished)), account.timezone, now))
    parts.append(_("manual") if result.get("trigger") == "manual" else _("scheduled"))
    if result.get("dry_run"):
        parts.append(_("dry run"))
    parts.append(status_name(str(result.get("status"))))
    text = _("Last run: {run}").format(run=" · ".join(parts))
    problem = result.get("problem")
    # A key failure's text says automation is paused: stale once the user re-armed it.
    stale = account.is_running and problem in (Problem.AUTH.value, Problem.PERMISSION.value)
    if problem and problem in set(Problem) and not stale:
        text += "\n" + _("Why: {reason}").format(reason=result_text_for_problem(Problem(problem)))
    return text


def status_text(account: Account, home: HomeNumbers | None = None) -> str:
    """The home screen: the mode line, value, largest drift against the threshold, the
    settings that shape the next run, and the last run."""
    now = utcnow()
    lines = ["<b>" + mode_line(account, now) + "</b>"]
    if home is not None:
        lines.append(_value_line(account, home, now))
        drift = _drift_line(account, home)
        if drift is not None:
            lines.append(drift)
    lines += [
        _("Exchange: {exchange}").format(
            exchange=(
                f"{exchange_name(account.exchange_id)} {account.key_hint or ''}".strip()
                if account.has_keys
                else _("not connected (/keys)")
            )
        ),
        _("Strategy: {strategy}").format(strategy=strategy_line(account.strategy)),
        _("Threshold: {threshold} points").format(
            threshold=fmt_decimal(account.strategy.threshold)
        ),
        _("Interval: {interval}").format(interval=interval_text(account.interval_seconds)),
    ]
    if account.is_running and account.next_run_at is not None:
        lines.append(
            _("Next run: {time}").format(time=_when(account.next_run_at, account.timezone))
        )
    lines.append(last_run_line(account, now))
    return "\n".join(lines)


def pause_reason(reason: str) -> str:
    reasons = {
        "auth": _("the exchange key stopped working"),
        "admin": _("paused by the operator"),
        "not_configured": _("keys or targets missing"),
        "keys_deleted": _("keys deleted"),
        "errors": _("the last runs failed"),
        "not_allowed": _("your access was withdrawn"),
    }
    return reasons.get(reason, reason)


def mode_line(account: Account, now: datetime) -> str:
    """`Auto ON · LIVE · every 4 hr · next 09:00`: whether, how and when runs happen, in one
    line (the home screen starts with it; /run and the switch to live trading end with it)."""
    if account.is_running:
        auto = _("Auto ON")
    elif account.paused_reason:
        auto = _("Auto PAUSED ({reason})").format(reason=pause_reason(account.paused_reason))
    else:
        auto = _("Auto OFF")
    parts = [auto, _("DRY RUN") if account.dry_run else _("LIVE")]
    if account.is_running:
        interval = fmt_timedelta(timedelta(seconds=account.interval_seconds), length="short")
        parts.append(_("every {interval}").format(interval=interval))
        if account.next_run_at is not None:
            when = fmt_time_near(account.next_run_at, account.timezone, now)
            parts.append(_("next {time}").format(time=when))
    return " · ".join(parts)


def started(account: Account, now: datetime) -> str:
    text = mode_line(account, now)
    if account.dry_run:
        text += "\n" + _("Runs are simulated: nothing is traded until /dryrun off.")
    return text


def key_still_fails() -> str:
    return _(
        "Your exchange key still fails, so automatic rebalancing stays off. "
        "Connect a working key with /keys, then send /run."
    )


def start_too_prompt(account: Account) -> str:
    return (
        _("Next run set to {time}.").format(time=_when(account.next_run_at, account.timezone))
        + "\n"
        + _("Automatic rebalancing is off. Also start automatic rebalancing?")
    )


def start_too_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Yes"), "autoon", "yes"), button(_("No"), "autoon", "no")]]
    )


def left_off() -> str:
    return _("Automatic rebalancing stays off; the next run time is kept for when you send /run.")


def stopped() -> str:
    return _("Automatic rebalancing is off. Your settings are kept; /run starts it again.")


def already_stopped() -> str:
    return _("Automatic rebalancing was already off.")


def missing_for_run(has_keys: bool, has_targets: bool) -> str:
    missing = []
    if not has_keys:
        missing.append(_("exchange keys (/keys)"))
    if not has_targets:
        missing.append(_("targets (/targets or /index)"))
    return _("Cannot start yet. Missing: {missing}.").format(missing=", ".join(missing))


def interval_prompt(account: Account) -> str:
    return _(
        "Current interval: {interval}. Choose one, or send e.g. /interval 6h (units: m, h, d, w)."
    ).format(interval=interval_text(account.interval_seconds))


def interval_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(str(label), "interval", str(seconds)) for label, seconds in INTERVAL_CHOICES]]
    )


def interval_set(account: Account) -> str:
    text = _("Interval set to {interval}.").format(interval=interval_text(account.interval_seconds))
    if account.is_running:
        text += " " + _("Next run: {time}.").format(
            time=_when(account.next_run_at, account.timezone)
        )
    return text


def next_set(account: Account) -> str:
    return _("Next run set to {time}.").format(time=_when(account.next_run_at, account.timezone))


def next_text(account: Account) -> str:
    if account.next_run_at is None:
        text = _("No next run is set.")
    else:
        text = _("Next run: {time}.").format(time=_when(account.next_run_at, account.timezone))
    if not account.is_running:
        text += " " + _("Automatic rebalancing is off (/run starts it).")
    return text + "\n" + _("Change it with e.g. /next 09:00 or /next 2026-12-01 09:00")


def timezone_text(account: Account) -> str:
    return _("Your timezone is {tz}. Change it with e.g. /timezone Europe/Kyiv").format(
        tz=account.timezone
    )


def timezone_set(account: Account) -> str:
    return _("Timezone set to {tz}.").format(tz=account.timezone)

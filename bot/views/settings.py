"""Texts and keyboards of /dryrun, /notify, /settings, /deleteme and /admin."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.i18n import _, fmt_decimal, ngettext
from bot.services.accounts import Account
from bot.views.start import LANGUAGE_NAMES, ButtonFactory
from bot.views.status import interval_text


def notify_names() -> dict[str, str]:
    return {
        "all": _("all"),
        "trades": _("trades only"),
        "errors": _("errors only"),
        "off": _("off"),
    }


def dryrun_text(account: Account) -> str:
    if account.dry_run:
        return _(
            "Dry-run is ON: runs are simulated and nothing is traded. "
            "Switch to live trading with /dryrun off."
        )
    return _(
        "LIVE trading is on: confirmed and scheduled runs place real orders. /dryrun on simulates again."  # noqa: E501
    )


def live_confirm() -> str:
    return _(
        "Switch to LIVE trading? From now on confirmed and scheduled runs place real orders "
        "on your exchange account."
    )


def live_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Yes, trade for real"), "live", "yes"), button(_("No"), "live", "no")]]
    )


def dryrun_on() -> str:
    return _("Dry-run is on: runs are simulated, nothing is traded.")


def live_on() -> str:
    return _("LIVE trading is on. /dryrun on switches back to simulation.")


def dryrun_usage() -> str:
    return _("Use /dryrun on or /dryrun off.")


def notify_text(account: Account) -> str:
    return _("Notifications: {level}. Choose:").format(level=notify_names()[account.notify_level])


def notify_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    names = notify_names()
    return InlineKeyboardMarkup(
        [
            [button(names["all"], "notify", "all"), button(names["trades"], "notify", "trades")],
            [button(names["errors"], "notify", "errors"), button(names["off"], "notify", "off")],
        ]
    )


def notify_set(account: Account) -> str:
    return _("Notifications set to: {level}.").format(level=notify_names()[account.notify_level])


def notify_usage() -> str:
    return _("Use /notify all, /notify trades, /notify errors or /notify off.")


def settings_text(account: Account) -> str:
    return "\n".join(
        [
            _("<b>Settings</b>"),
            _("Interval: {interval}").format(interval=interval_text(account.interval_seconds)),
            _("Threshold: {threshold} points").format(
                threshold=fmt_decimal(account.strategy.threshold)
            ),
            _("Mode: {mode}").format(
                mode=_("dry run (simulated)") if account.dry_run else _("LIVE trading")
            ),
            _("Notifications: {level}").format(level=notify_names()[account.notify_level]),
            _("Language: {language}").format(language=LANGUAGE_NAMES.get(account.language, "")),
            _("Timezone: {tz}").format(tz=account.timezone),
        ]
    )


def settings_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [button(_("Interval"), "set", "interval"), button(_("Threshold"), "set", "threshold")],
            [button(_("Dry-run"), "set", "dryrun"), button(_("Notifications"), "set", "notify")],
            [button(_("Language"), "set", "language"), button(_("Timezone"), "set", "timezone")],
        ]
    )


def deleteme_confirm() -> str:
    return _("Erase ALL your data: keys, targets, history and settings? This cannot be undone.")


def deleteme_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Yes, erase everything"), "delme", "yes"), button(_("No"), "delme", "no")]]
    )


def deleted_everything() -> str:
    return _("All your data is erased. Send /start if you ever want to come back.")


def admin_only() -> str:
    return _("This command is for the bot's operators.")


def admin_stats(stats: dict[str, int], paused: bool) -> str:
    return "\n".join(
        [
            _("<b>Admin</b>"),
            _("Users: {users}").format(users=stats["users"]),
            _("Active jobs: {active}").format(active=stats["active"]),
            _("Runs in the last 24 h: {runs}, failed: {failures}").format(
                runs=stats["runs"], failures=stats["failures"]
            ),
            _("Kill switch: {state}").format(state=_("ON (all paused)") if paused else _("off")),
            _("/admin pause stops every user's automation; /admin resume restarts it."),
            _("/admin remove <code>user id</code> erases a user and everything of theirs."),
        ]
    )


def admin_paused(count: int) -> str:
    return ngettext(
        "Paused automatic rebalancing for {count} user.",
        "Paused automatic rebalancing for {count} users.",
        count,
    ).format(count=count)


def admin_resumed(count: int) -> str:
    return ngettext(
        "Resumed automatic rebalancing for {count} user.",
        "Resumed automatic rebalancing for {count} users.",
        count,
    ).format(count=count)


def admin_remove_usage() -> str:
    return _("Say whose account to erase: /admin remove <code>telegram user id</code>")


def admin_no_such_user(telegram_id: int) -> str:
    return _("No user with Telegram id {id}. Nothing was erased.").format(id=telegram_id)


def admin_removed(telegram_id: int, *, had_keys: bool) -> str:
    text = _(
        "User {id} is erased: automatic rebalancing stopped, their settings, history and "
        "portfolio records deleted."
    ).format(id=telegram_id)
    if had_keys:
        text += " " + _("Their exchange keys were deleted first.")
    return text

"""Texts and keyboards of /dryrun, /notify, /settings (one message that changes in place) and
/deleteme."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import N_, LazyString, _, fmt_decimal
from bot.services.accounts import Account
from bot.views.common import escape
from bot.views.start import LANGUAGE_NAMES, ButtonFactory
from bot.views.status import INTERVAL_CHOICES, interval_text, mode_line


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


def live_on(account: Account, now: datetime) -> str:
    text = mode_line(account, now) + "\n" + _("/dryrun on switches back to simulation.")
    if not account.is_running:
        text += " " + _("/run starts automatic rebalancing.")
    return text


def dryrun_usage() -> str:
    return _("Use /dryrun on or /dryrun off.")


def notify_text(account: Account) -> str:
    return _("Notifications: {level}. Choose:").format(level=notify_names()[account.notify_level])


def notify_keyboard(
    button: ButtonFactory, current: str | None = None, action: str = "notify", prefix: str = ""
) -> InlineKeyboardMarkup:
    """The four levels, two a row, the current one marked."""
    names = notify_names()
    buttons = [
        button(marked(names[level], level == current), action, prefix + level)
        for level in ("all", "trades", "errors", "off")
    ]
    return InlineKeyboardMarkup([buttons[:2], buttons[2:]])


def notify_set(account: Account) -> str:
    return _("Notifications set to: {level}.").format(level=notify_names()[account.notify_level])


def notify_usage() -> str:
    return _("Use /notify all, /notify trades, /notify errors or /notify off.")


# --- /settings: one message that changes in place ---------------------------------------------

# The summary's buttons, two a row, in this order; a new setting is one more entry here and an
# opener in bot/handlers/settings.py.
SETTING_BUTTONS: tuple[tuple[str, LazyString], ...] = (
    ("interval", N_("Interval")),
    ("threshold", N_("Threshold")),
    ("dryrun", N_("Dry-run")),
    ("notify", N_("Notifications")),
    ("language", N_("Language")),
    ("timezone", N_("Timezone")),
    ("mintrade", N_("Minimum trade")),
)
THRESHOLD_CHOICES = (Decimal(1), Decimal(2), Decimal(5), Decimal(10))
MIN_TRADE_CHOICES = (Decimal(5), Decimal(10), Decimal(20), Decimal(50), Decimal(100))
KYIV = "Europe/Kyiv"
CHECK = "✓ "


def marked(label: object, current: bool) -> str:
    """A choice's label, with a check mark when it is the current value."""
    return (CHECK if current else "") + str(label)


def language_name(code: str) -> str:
    """The language as a word inside a sentence (`Мова: українська`), not a button label."""
    names = {"en": _("English"), "uk": _("Ukrainian")}
    return names.get(code, code)


def settings_text(account: Account, changed: str = "") -> str:
    """The summary; `changed` (a confirmation such as `Interval set to 4 hours.`) goes on top."""
    lines = [changed, ""] if changed else []
    lines += [
        _("<b>Settings</b>"),
        _("Interval: {interval}").format(interval=interval_text(account.interval_seconds)),
        _("Threshold: {threshold} points").format(
            threshold=fmt_decimal(account.strategy.threshold)
        ),
        _("Mode: {mode}").format(
            mode=_("dry run (simulated)") if account.dry_run else _("LIVE trading")
        ),
        _("Notifications: {level}").format(level=notify_names()[account.notify_level]),
        _("Language: {language}").format(language=language_name(account.language)),
        _("Timezone: {tz}").format(tz=escape(account.timezone)),
    ]
    return "\n".join(lines)


def settings_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    buttons = [button(str(label), "set", which) for which, label in SETTING_BUTTONS]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([button(_("« Menu"), "menu", "home")])
    return InlineKeyboardMarkup(rows)


def _with_back(
    button: ButtonFactory, rows: list[list[InlineKeyboardButton]]
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([*rows, [button(_("« Back"), "set", "home")]])


def interval_choices(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    row = [
        button(marked(label, seconds == account.interval_seconds), "setv", f"interval:{seconds}")
        for label, seconds in INTERVAL_CHOICES
    ]
    return _with_back(button, [row])


def threshold_choices(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    row = [
        button(
            marked(
                _("{threshold} pp").format(threshold=fmt_decimal(points)),
                points == account.strategy.threshold,
            ),
            "setv",
            f"threshold:{points}",
        )
        for points in THRESHOLD_CHOICES
    ]
    return _with_back(button, [row])


def mintrade_choices(
    account: Account, button: ButtonFactory, exchange_minimum: Decimal
) -> InlineKeyboardMarkup:
    """Presets the exchange accepts (never below its minimum), the current one marked."""
    amounts = sorted({a for a in MIN_TRADE_CHOICES if a >= exchange_minimum} | {exchange_minimum})
    row = [
        button(
            marked(fmt_decimal(amount), amount == account.strategy.min_trade),
            "setv",
            f"mintrade:{amount}",
        )
        for amount in amounts[:5]
    ]
    return _with_back(button, [row])


def dryrun_choices(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    row = [
        button(marked(_("Dry-run"), account.dry_run), "setv", "dryrun:on"),
        button(marked(_("Live trading"), not account.dry_run), "setv", "dryrun:live"),
    ]
    return _with_back(button, [row])


def notify_choices(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    rows = notify_keyboard(button, account.notify_level, "setv", "notify:").inline_keyboard
    return _with_back(button, [list(row) for row in rows])


def language_choices(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    row = [
        button(marked(name, code == account.language), "setv", f"lang:{code}")
        for code, name in LANGUAGE_NAMES.items()
    ]
    return _with_back(button, [row])


def timezone_presets(guess: str | None) -> list[tuple[str, str]]:
    """(zone, label): Kyiv, UTC, and the zone the user's Telegram language suggests."""
    presets = [(KYIV, _("Kyiv")), ("UTC", "UTC")]
    if guess and guess not in (KYIV, "UTC"):
        presets.append((guess, guess.rsplit("/", 1)[-1].replace("_", " ")))
    return presets


def timezone_choices(
    account: Account, button: ButtonFactory, guess: str | None
) -> InlineKeyboardMarkup:
    row = [
        button(marked(label, zone == account.timezone), "setv", f"tz:{zone}")
        for zone, label in timezone_presets(guess)
    ]
    return _with_back(button, [row])


def timezone_prompt(account: Account) -> str:
    return _(
        "Timezone: {tz}. Choose one, or send any IANA name, e.g. /timezone Europe/Warsaw"
    ).format(tz=escape(account.timezone))


def dryrun_prompt(account: Account) -> str:
    return dryrun_text(account) + "\n\n" + _("Choose the mode:")


def live_keyboard_from_settings(button: ButtonFactory) -> InlineKeyboardMarkup:
    """The live-trading confirmation opened from /settings: either answer returns there."""
    return InlineKeyboardMarkup(
        [
            [
                button(_("Yes, trade for real"), "live", "yes.set"),
                button(_("No"), "live", "no.set"),
            ]
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

"""Texts and keyboards of /start, /help and /language."""

from __future__ import annotations

from collections.abc import Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.i18n import _
from bot.services.accounts import Account

ButtonFactory = Callable[[str, str, str], InlineKeyboardButton]

LANGUAGE_NAMES = {"en": "English", "uk": "Українська"}


def welcome(account: Account, created: bool) -> str:
    lines = [
        _("Welcome! I keep your crypto portfolio at the weights you choose.")
        if created
        else _("Welcome back!"),
    ]
    if not account.has_keys:
        lines.append(
            _(
                "First connect your exchange with /keys (use a key that can trade spot but "
                "cannot withdraw), then set your targets with /targets."
            )
        )
    elif not account.strategy.is_set:
        lines.append(_("Next, set your targets, e.g. /targets BTC 50 ETH 30 USDT 20"))
    if account.dry_run:
        lines.append(
            _("Dry-run mode is on: I simulate trades until you switch it off with /dryrun.")
        )
    return "\n\n".join(lines)


def main_menu(account: Account, button: ButtonFactory) -> InlineKeyboardMarkup:
    rows = [
        [button(_("Portfolio"), "menu", "portfolio"), button(_("Rebalance"), "menu", "rebalance")],
        [button(_("Settings"), "menu", "settings"), button(_("History"), "menu", "history")],
        [button(_("Help"), "menu", "help")],
    ]
    if not account.has_keys:
        rows.insert(0, [button(_("Connect exchange"), "menu", "keys")])
    return InlineKeyboardMarkup(rows)


def language_prompt() -> str:
    return _("Choose your language:")


def language_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(name, "lang", code) for code, name in LANGUAGE_NAMES.items()]]
    )


def language_changed() -> str:
    return _("Language set to English.")

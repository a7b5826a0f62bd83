"""Texts and keyboards shared by several features: the main menu, help, bad-input hints."""

from __future__ import annotations

import difflib
import html
import re

from bot.i18n import N_, LazyString, _, ngettext, translate

MAX_MESSAGE_CHARS = 4096  # Telegram's limit for one message
_TAG = re.compile(r"<(/?)([a-z-]+)[^>]*>")


def escape(value: object) -> str:
    """HTML-escape anything that did not come from our catalogs: exchange asset names and
    symbols, permission names, text a user typed, before it enters an HTML message."""
    return html.escape(str(value), quote=False)


EXCHANGE_NAMES = {"binance": "Binance", "okx": "OKX", "bybit": "Bybit"}


def exchange_name(exchange_id: str) -> str:
    """How the exchange spells itself (`Binance`), not ccxt's id (`binance`)."""
    return EXCHANGE_NAMES.get(exchange_id, exchange_id.capitalize())


def fit_message(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """At most `limit` characters: cut at a line break, open tags closed, an ellipsis added.

    Inputs are bounded where they are read; this is the last guard that a reply never
    breaks Telegram's limit, whatever a list grew to.
    """
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 100)
    kept = text[: cut if cut > 0 else limit - 100]
    kept = kept[: kept.rfind("<")] if kept.rfind("<") > kept.rfind(">") else kept
    kept = re.sub(r"&[#a-zA-Z0-9]*$", "", kept)
    open_tags: list[str] = []
    for closing, name in _TAG.findall(kept):
        if closing and open_tags and open_tags[-1] == name:
            open_tags.pop()
        elif not closing:
            open_tags.append(name)
    return kept + "".join(f"</{name}>" for name in reversed(open_tags)) + "\n…"


# (command, one-line description) in the order users meet them; the menu and /help share it.
COMMANDS: tuple[tuple[str, LazyString], ...] = (
    ("start", N_("Register and show the main menu")),
    ("keys", N_("Connect your exchange API key")),
    ("targets", N_("Set target weights, e.g. /targets BTC 50 ETH 30 USDT 20")),
    ("index", N_("Follow a market-cap index, e.g. /index 10 cap 25")),
    ("portfolio", N_("Holdings, weights and drift")),
    ("rebalance", N_("Plan a rebalance now, preview and confirm")),
    ("status", N_("Automatic rebalancing at a glance")),
    ("run", N_("Start automatic rebalancing")),
    ("stop", N_("Stop automatic rebalancing")),
    ("threshold", N_("Trade only past this drift, e.g. /threshold 5")),
    ("mintrade", N_("Smallest trade worth making, e.g. /mintrade 5")),
    ("interval", N_("How often to check, e.g. /interval 4h")),
    ("next", N_("Set the next run, e.g. /next 09:00")),
    ("timezone", N_("Your timezone, e.g. /timezone Europe/Kyiv")),
    ("dryrun", N_("Simulate or trade for real")),
    ("history", N_("Past runs")),
    ("performance", N_("Value over time and returns")),
    ("notify", N_("Which notifications you get")),
    ("settings", N_("All settings in one menu")),
    ("language", N_("English or Ukrainian")),
    ("cmckey", N_("Optional CoinMarketCap key for the index")),
    ("deletekeys", N_("Forget your exchange keys")),
    ("deleteme", N_("Erase all your data")),
    ("cancel", N_("Leave the current dialog")),
    ("help", N_("All commands")),
)


def command_menu(language: str) -> list[tuple[str, str]]:
    """The command menu in one language, for set_my_commands."""
    return [(name, translate(str(description.msgid), language)) for name, description in COMMANDS]


# /help in groups, each command once; a command in COMMANDS but in no group (a new one) is
# listed under the last group, so nothing is ever missing from /help.
HELP_GROUPS: tuple[tuple[LazyString, tuple[str, ...]], ...] = (
    (N_("Getting started"), ("start", "keys", "targets", "index", "help")),
    (N_("Trading"), ("rebalance", "run", "stop", "threshold", "interval", "next", "dryrun")),
    (N_("Information"), ("status", "portfolio", "history", "performance")),
    (
        N_("Account"),
        (
            "settings",
            "notify",
            "language",
            "timezone",
            "cmckey",
            "deletekeys",
            "deleteme",
            "cancel",
        ),
    ),
)


def help_groups() -> list[tuple[str, list[str]]]:
    """(group title, command names) for /help, every command of COMMANDS exactly once."""
    known = {name for name, _description in COMMANDS}
    groups = [(str(title), [n for n in names if n in known]) for title, names in HELP_GROUPS]
    grouped = {name for _title, names in groups for name in names}
    groups[-1][1].extend(name for name, _description in COMMANDS if name not in grouped)
    return groups


def help_text() -> str:
    descriptions = {name: str(description) for name, description in COMMANDS}
    lines = [
        _("<b>First steps</b>"),
        _("1. /keys: connect your exchange with a key that can trade spot but cannot withdraw."),
        _("2. /targets BTC 50 ETH 30 USDT 20: choose the weights to keep."),
        _("3. /rebalance: see the plan and confirm it; /run keeps rebalancing on a schedule."),
    ]
    for title, names in help_groups():
        lines += ["", f"<b>{title}</b>"]
        lines += [f"/{name} — {descriptions[name]}" for name in names]
    lines.append("")
    lines.append(
        _(
            "Drift is measured in percentage points: holding 45% against a 50% target is a drift of 5 points. "  # noqa: E501
            "New accounts start in dry-run mode: nothing is traded until you switch it off."
        )
    )
    return "\n".join(lines)


def unknown_command(command: str, suggestion: str | None) -> str:
    text = _("Unknown command /{command}.").format(command=escape(command))
    if suggestion:
        text += " " + _("Did you mean /{suggestion}?").format(suggestion=suggestion)
    return text + " " + _("Send /help to see all commands.")


def closest_command(command: str) -> str | None:
    """The real command nearest to a mistyped one (`/stauts` -> `status`), if any is close."""
    names = [name for name, _description in COMMANDS]
    matches = difflib.get_close_matches(command.lower(), names, n=1, cutoff=0.6)
    return matches[0] if matches else None


def waiting_for_exchange() -> str:
    return _("Asking the exchange…")


def not_understood() -> str:
    return _("I did not understand that. Send /help to see what I can do.")


def expired() -> str:
    return _("This button has expired.")


def cancelled() -> str:
    return _("Cancelled. Nothing was changed.")


def nothing_to_cancel() -> str:
    return _("There is nothing to cancel.")


def private_bot() -> str:
    return _("Sorry, this bot is private. Ask its operator for access.")


def access_withdrawn() -> str:
    return _(
        "You no longer have access to this bot. You can still stop automatic rebalancing "
        "with /stop, erase your exchange keys with /deletekeys, or erase everything with "
        "/deleteme."
    )


def edit_ignored() -> str:
    return _("I do not act on edited messages. Please send it again as a new message.")


def too_long(limit: int) -> str:
    return _("That message is too long: at most {limit} characters, please.").format(limit=limit)


def slow_down(seconds: int) -> str:
    return ngettext(
        "You are sending too much too fast. Please wait {seconds} second and try again.",
        "You are sending too much too fast. Please wait {seconds} seconds and try again.",
        seconds,
    ).format(seconds=seconds)


def not_deleted() -> str:
    return _(
        "I could not delete your message. Please delete it yourself, and if it held a secret, "
        "regenerate the key."
    )

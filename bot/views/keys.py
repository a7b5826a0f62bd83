"""Texts of /keys, /deletekeys and /cmckey."""

from __future__ import annotations

from typing import Any

from telegram import InlineKeyboardMarkup

from bot.i18n import N_, LazyString, _, ngettext
from bot.services.accounts import Account
from bot.services.venues import OFFERED, venue
from bot.views.common import escape, exchange_name
from bot.views.start import ButtonFactory

EXCHANGES = tuple((code, venue(code).name) for code in OFFERED)


def choose_exchange() -> str:
    return _("Which exchange do you want to connect? (/cancel to stop)")


def exchange_keyboard(button: ButtonFactory) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[button(name, "keys_ex", code) for code, name in EXCHANGES]])


def ask_key(exchange: str) -> str:
    """`exchange`: the exchange's name as its buttons show it (`Binance`, `OKX`, `Bybit`)."""
    if exchange == "OKX":
        how = _(
            "Create it with the <b>Read</b> and <b>Trade</b> permissions only; "
            "<b>Withdraw</b> must stay off."
        )
    elif exchange == "Bybit":
        how = _(
            "Create it as <b>Read-Write</b> with <b>Spot</b> trading only; leave every "
            "<b>Assets</b> permission (withdrawal, transfers) off."
        )
    else:
        how = _(
            "Create it with <b>Enable Reading</b> and <b>Enable Spot &amp; Margin Trading</b> "
            "only; withdrawals must stay off."
        )
    return _(
        "Send your {exchange} API key (or /cancel). {how} I delete your message at once."
    ).format(exchange=exchange, how=how)


def ask_secret() -> str:
    return _("Now send the Secret Key. I delete that message at once too.")


def ask_passphrase() -> str:
    return _(
        "Now send the passphrase you chose when you created the OKX API key. I delete that "
        "message at once too."
    )


def bad_passphrase_format() -> str:
    return _(
        "That does not look like an OKX passphrase (8 to 32 characters, no spaces). Send the "
        "passphrase again, or /cancel."
    )


def bad_key_format() -> str:
    return _(
        "That does not look like an API key (letters and digits, 16 to 128 characters, one "
        "line). Send the key again, or /cancel."
    )


def checking() -> str:
    return _("Checking the key with the exchange…")


# Exchange flags in the user's words; flags that are not permissions (ipRestrict) are left out.
PERMISSION_WORDS: dict[str, LazyString] = {
    "enableReading": N_("reading"),
    "can_read": N_("reading"),
    "enableSpotAndMarginTrading": N_("spot trading"),
    "can_trade_spot": N_("spot trading"),
    "enableMargin": N_("margin trading"),
    "enableFutures": N_("futures"),
    "enableVanillaOptions": N_("options"),
    "enablePortfolioMarginTrading": N_("portfolio margin"),
    "enableFixApiTrade": N_("FIX API trading"),
    "enableFixReadOnly": N_("FIX API reading"),
}


def permission_words(permissions: dict[str, Any] | None) -> str:
    """`reading, spot trading`: the granted permissions in words, the known ones in order."""
    granted = {name for name, on in (permissions or {}).items() if on is True}
    words: list[str] = []
    for name, word in PERMISSION_WORDS.items():
        if name in granted and str(word) not in words:
            words.append(str(word))
    return ", ".join(words) or _("none reported")


def connected(account: Account, public_ip: str | None = None) -> str:
    lines = [
        _("Connected {exchange}, key {hint}.").format(
            exchange=escape(exchange_name(account.exchange_id)),
            hint=escape(account.key_hint or ""),
        ),
        _("Permissions: {permissions}").format(permissions=permission_words(account.permissions)),
    ]
    if account.ip_restricted is False and public_ip:
        lines.append(
            _(
                "Tip: in your exchange's API settings, restrict this key to the bot's IP "
                "address <code>{ip}</code>."
            ).format(ip=escape(public_ip))
        )
    lines.append(_("New keys start in dry-run: nothing is traded until you send /dryrun off."))
    if not account.strategy.is_set:
        lines.append(_("Next, set your targets, e.g. /targets BTC 50 ETH 30 USDT 20"))
    return "\n".join(lines)


def refused(reason: str, exchange: str = "binance") -> str:
    if reason == "no_spot_trading" and exchange != "binance":
        return _("This key cannot trade spot. Give it the spot trading permission.")
    reasons = {
        "withdrawals_enabled": _(
            "This key can withdraw funds, so I refuse it: if it ever leaked, your account could "
            "be emptied. Create a key with withdrawals disabled."
        ),
        "transfer_enabled": _(
            "This key can transfer funds between accounts, so I refuse it. Create a key without "
            "transfer permissions."
        ),
        "no_spot_trading": _(
            "This key cannot trade spot. Enable Spot &amp; Margin Trading for it."
        ),
        "no_reading": _("This key cannot read your account. Enable Reading for it."),
        "read_only": _(
            "This key is read-only, so I could never trade with it. Create a key that may "
            "trade spot (withdrawals still off)."
        ),
    }
    return reasons.get(reason, _("The exchange refused this key's permissions. Check them."))


def auth_failed(exchange: str = "binance") -> str:
    if exchange == "okx":
        return _(
            "OKX rejected this key, secret or passphrase. Check that you copied all three "
            "completely, that the key is active, and that it was made on the OKX site this bot "
            "uses."
        )
    return _(
        "The exchange rejected this key or secret. Check that you copied both completely and "
        "that the key is active."
    )


def send_key_again() -> str:
    return _("Send the API key again (then its secret), or /cancel.")


def exchange_down() -> str:
    return _("The exchange is not answering right now. Nothing was saved; try /keys again later.")


def delete_confirm() -> str:
    return _("Delete your exchange keys? Automatic rebalancing stops. Your history is kept.")


def confirm_keyboard(button: ButtonFactory, action: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[button(_("Yes, delete"), action, "yes"), button(_("No"), action, "no")]]
    )


def deleted() -> str:
    return _("Your exchange keys are deleted and automatic rebalancing is off.")


def no_keys() -> str:
    return _("You have no exchange keys stored.")


def ask_cmc_key() -> str:
    return _(
        "Send your CoinMarketCap API key (optional: without one I use CoinGecko). I delete the "
        "message at once. Send /cancel to stop, or <code>/cmckey delete</code> to remove a stored key."  # noqa: E501
    )


def cmc_saved() -> str:
    return _("CoinMarketCap key saved. The index strategy uses it from now on.")


def cmc_rejected() -> str:
    return _(
        "CoinMarketCap rejected this key, so I did not save it. Check it in your CoinMarketCap "
        "account and send /cmckey again."
    )


def cmc_unavailable() -> str:
    return _(
        "CoinMarketCap is not answering, so I could not check the key and did not save it. "
        "Please send /cmckey again in a few minutes."
    )


def cmc_deleted() -> str:
    return _("CoinMarketCap key removed. The index strategy uses CoinGecko.")


def text_expected() -> str:
    return _("Please send the key as a text message, or /cancel.")


def timed_out() -> str:
    return _("The key dialog timed out. Nothing was saved. Send /keys to start again.")


def pasted_key_deleted() -> str:
    return _(
        "That looked like an API key or secret, so I deleted it from the chat. To connect "
        "your exchange, send /keys and then the key and the secret, each when I ask for it."
    )


def pasted_key_not_deleted() -> str:
    return _(
        "That looks like an API key or secret, and I could not delete it. Delete the message "
        "yourself now, and if it holds a secret, regenerate the key at your exchange."
    )


def group_key_deleted() -> str:
    return _(
        "That looked like an API key or secret, so I deleted it. Others in this chat may have "
        "seen it: regenerate the key at your exchange, and send keys only in a private chat "
        "with me."
    )


def group_key_not_deleted() -> str:
    return _(
        "That looks like an API key or secret, and I cannot delete it here. Delete the "
        "message and revoke the key at your exchange now."
    )


def key_not_deleted() -> str:
    return _("I could not delete your message with the key. Please delete it yourself.")


def secret_not_deleted() -> str:
    return _(
        "I could not delete your message with the secret, so I did not save the key: the "
        "secret is still visible in this chat. Delete that message yourself, regenerate the "
        "key at your exchange, and send /keys again."
    )


def cmc_not_deleted() -> str:
    return _(
        "I could not delete your message with the CoinMarketCap key, so I did not save it. "
        "Delete that message yourself, regenerate the key in your CoinMarketCap account, and "
        "send /cmckey again."
    )


def too_many_checks(minutes: int) -> str:
    return ngettext(
        "Too many key checks in the last hour. To stay within the exchange's limits, please "
        "try again in {minutes} minute.",
        "Too many key checks in the last hour. To stay within the exchange's limits, please "
        "try again in {minutes} minutes.",
        minutes,
    ).format(minutes=minutes)

"""Callback data bound to its chat and its issue time: signed, so a forged, foreign or old
button is refused."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable

from telegram import InlineKeyboardButton

SEPARATOR = "|"
MAX_DATA_BYTES = 64  # Telegram's limit for callback_data
SIGNATURE_CHARS = 12  # base64url of 9 bytes of HMAC-SHA256: 72 bits

# How long a button may be pressed after it was sent. Confirmations change money or erase
# data, so they are short-lived: "Yes, trade for real" pressed days later must not switch
# anything on. Menus, pagination and choices live a day.
CONFIRM_MAX_AGE = 5 * 60
MENU_MAX_AGE = 24 * 3600
MAX_AGE_BY_ACTION = {
    "live": CONFIRM_MAX_AGE,
    "autoon": CONFIRM_MAX_AGE,  # "also start automatic rebalancing?" after /next
    "delkeys": CONFIRM_MAX_AGE,
    "delme": CONFIRM_MAX_AGE,
    "rb_ok": CONFIRM_MAX_AGE,
    "rb_no": CONFIRM_MAX_AGE,
}
CLOCK_SKEW = 60  # a button "from the future" within this much is still accepted


def _encode_time(seconds: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        seconds, rest = divmod(seconds, 36)
        text = digits[rest] + text
        if not seconds:
            return text


def max_age(action: str) -> int:
    return MAX_AGE_BY_ACTION.get(action, MENU_MAX_AGE)


class CallbackSigner:
    """Makes `action|payload|issued|sig` strings whose signature covers the chat id too.

    `issued` is the unix time in base 36 (6 characters until 2038). A button copied into
    another chat, data crafted by a client, or a button older than its action allows fails
    the check; the handler then answers that the button expired and does nothing else.
    """

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.clock = clock

    def _sig(self, chat_id: int, action: str, payload: str, issued: str) -> str:
        message = SEPARATOR.join((str(chat_id), action, payload, issued)).encode()
        digest = hmac.new(self._key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:9]).decode()

    def sign(self, chat_id: int, action: str, payload: str = "") -> str:
        if SEPARATOR in action or SEPARATOR in payload:
            raise ValueError("callback action and payload must not contain the separator")
        issued = _encode_time(int(self.clock()))
        sig = self._sig(chat_id, action, payload, issued)
        data = SEPARATOR.join((action, payload, issued, sig))
        if len(data.encode()) > MAX_DATA_BYTES:
            raise ValueError("callback data longer than Telegram allows")
        return data

    def verify(self, chat_id: int, data: str | None) -> tuple[str, str] | None:
        """(action, payload) when we made the data for this chat and it is young enough."""
        if not data or len(data) > MAX_DATA_BYTES:
            return None
        parts = data.split(SEPARATOR)
        if len(parts) != 4:
            return None
        action, payload, issued, sig = parts
        if not hmac.compare_digest(sig, self._sig(chat_id, action, payload, issued)):
            return None
        try:
            age = self.clock() - int(issued, 36)
        except ValueError:
            return None
        if not -CLOCK_SKEW <= age <= max_age(action):
            return None
        return action, payload

    def button(
        self, text: str, chat_id: int, action: str, payload: str = ""
    ) -> InlineKeyboardButton:
        return InlineKeyboardButton(str(text), callback_data=self.sign(chat_id, action, payload))

"""Callback data bound to its chat: signed, so a forged or foreign button is refused."""

from __future__ import annotations

import hashlib
import hmac

from telegram import InlineKeyboardButton

SEPARATOR = "|"
MAX_DATA_BYTES = 64  # Telegram's limit for callback_data


class CallbackSigner:
    """Makes `action|payload|sig` strings whose signature covers the chat id.

    A button copied into another chat, or data crafted by a client, fails the check; the handler
    then answers that the button expired and does nothing else.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sig(self, chat_id: int, action: str, payload: str) -> str:
        message = f"{chat_id}{SEPARATOR}{action}{SEPARATOR}{payload}".encode()
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()[:12]

    def sign(self, chat_id: int, action: str, payload: str = "") -> str:
        if SEPARATOR in action or SEPARATOR in payload:
            raise ValueError("callback action and payload must not contain the separator")
        data = f"{action}{SEPARATOR}{payload}{SEPARATOR}{self._sig(chat_id, action, payload)}"
        if len(data.encode()) > MAX_DATA_BYTES:
            raise ValueError("callback data longer than Telegram allows")
        return data

    def verify(self, chat_id: int, data: str | None) -> tuple[str, str] | None:
        """(action, payload) when the data was made by us for this chat, else None."""
        if not data or len(data) > MAX_DATA_BYTES:
            return None
        parts = data.split(SEPARATOR)
        if len(parts) != 3:
            return None
        action, payload, sig = parts
        if not hmac.compare_digest(sig, self._sig(chat_id, action, payload)):
            return None
        return action, payload

    def button(
        self, text: str, chat_id: int, action: str, payload: str = ""
    ) -> InlineKeyboardButton:
        return InlineKeyboardButton(str(text), callback_data=self.sign(chat_id, action, payload))

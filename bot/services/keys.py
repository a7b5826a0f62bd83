"""Connecting an exchange account: check the key against the exchange, then store it encrypted."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from bot.errors import CredentialsError, ExchangeError, NotConfigured, ValidationError
from bot.log import register_secret
from bot.services.accounts import Account, AccountService
from bot.services.exchange import validate_credentials

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-+/=]{16,128}$")
SUPPORTED_EXCHANGES = ("binance",)


def check_key_format(value: str) -> str:
    """A key or secret as typed: one token of 16-128 safe characters (spaces trimmed)."""
    value = value.strip()
    if not KEY_PATTERN.fullmatch(value):
        raise ValidationError("That does not look like an API key.")
    return value


class KeyService:
    def __init__(self, accounts: AccountService, hubs: Any) -> None:
        self._accounts = accounts
        self._hubs = hubs

    async def connect(
        self,
        user_id: int,
        *,
        exchange_id: str,
        api_key: str,
        secret: str,
        passphrase: str | None = None,
    ) -> Account:
        """Validate (refusing withdraw/transfer-enabled keys) and store; raises exchange errors."""
        if exchange_id not in SUPPORTED_EXCHANGES:
            raise ValidationError("Unsupported exchange. Choose one of the buttons.")
        for value in (api_key, secret, passphrase):
            if value:
                register_secret(value)  # from here on, logs can never show it
        try:
            previous = await self._accounts.credentials(user_id)
        except (NotConfigured, CredentialsError):
            previous = None
        try:
            check = await validate_credentials(
                self._hubs.get(exchange_id), api_key, secret, passphrase
            )
        except ExchangeError:
            # A refused key's client must not sit in the pool with the key in it.
            await self._hubs.forget(exchange_id, api_key, secret)
            raise
        permissions = dict(getattr(check, "permissions", {}) or {})
        if not permissions:
            permissions = {k: v for k, v in asdict(check).items() if isinstance(v, bool)}
        account = await self._accounts.store_credentials(
            user_id,
            exchange_id=exchange_id,
            api_key=api_key,
            secret=secret,
            passphrase=passphrase,
            permissions=permissions,
            ip_restricted=getattr(check, "ip_restricted", None),
        )
        if previous is not None and (previous.api_key, previous.secret) != (api_key, secret):
            # Replaced: the old key's pooled client (and the old key in it) goes now.
            await self._hubs.forget(previous.exchange_id, previous.api_key, previous.secret)
        return account

"""Connecting an exchange account: check the key against the exchange, then store it encrypted."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Any

from bot.errors import (
    AuthenticationFailed,
    BotError,
    CredentialsError,
    ExchangeError,
    NotConfigured,
    PermissionDenied,
    ValidationError,
)
from bot.log import register_secret
from bot.services.accounts import Account, AccountService
from bot.services.budgets import interactive
from bot.services.exchange import validate_credentials
from bot.services.ratelimit import AttemptLimiter
from bot.services.venues import OFFERED, venue

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-+/=]{16,128}$")
# OKX: "8 to 32 characters" of letters, digits and symbols, chosen by the user; no spaces.
PASSPHRASE_PATTERN = re.compile(r"^[!-~]{8,32}$")
SUPPORTED_EXCHANGES = OFFERED
# What each exchange's API secrets (or keys) look like, to spot one pasted anywhere: Binance's
# 64 alphanumerics, OKX's 32-hex-digit secret, Bybit's 36-alphanumeric secret. OKX's key is
# a UUID, which a CoinMarketCap key (sent to /cmckey) is too, and Bybit's 18-character key is
# too short to tell from a word: neither is a secret alone, so neither shape is hunted.
KEY_SHAPES = {
    "binance": r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])",
    "okx": r"(?<![A-Za-z0-9])[0-9A-F]{32}(?![A-Za-z0-9])",
    "bybit": r"(?<![A-Za-z0-9])(?=[A-Za-z0-9]*\d)(?=[A-Za-z0-9]*[A-Za-z])[A-Za-z0-9]{36}"
    r"(?![A-Za-z0-9])",
}
_KEY_LIKE = re.compile("|".join(f"(?:{shape})" for shape in KEY_SHAPES.values()))


def holds_key(text: str | None) -> bool:
    """Does the text hold something shaped like an exchange API key or secret?"""
    return bool(text) and _KEY_LIKE.search(text or "") is not None


class TooManyKeyChecks(BotError):
    """The user checked too many keys lately; `retry_after` in seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("too many key checks")
        self.retry_after = retry_after


def check_passphrase_format(value: str) -> str:
    """An OKX passphrase as typed: 8-32 printable characters, no spaces (trimmed)."""
    value = value.strip()
    if not PASSPHRASE_PATTERN.fullmatch(value):
        raise ValidationError("That does not look like an API passphrase.")
    return value


def check_key_format(value: str) -> str:
    """A key or secret as typed: one token of 16-128 safe characters (spaces trimmed)."""
    value = value.strip()
    if not KEY_PATTERN.fullmatch(value):
        raise ValidationError("That does not look like an API key.")
    return value


class KeyService:
    def __init__(
        self, accounts: AccountService, hubs: Any, checks: AttemptLimiter | None = None
    ) -> None:
        self._accounts = accounts
        self._hubs = hubs
        # Each check reads the account at the exchange: junk keys in a row must not spend the
        # weight every user shares (or earn the IP a ban).
        self.checks = checks or AttemptLimiter(limit=5, window=3600.0)

    def check_allowed(self, user_id: int) -> None:
        """TooManyKeyChecks when the user may not check another key now."""
        wait = self.checks.retry_after(user_id)
        if wait is not None:
            raise TooManyKeyChecks(wait)

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
        if venue(exchange_id).needs_passphrase and not passphrase:
            raise ValidationError("That does not look like an API passphrase.")
        self.check_allowed(user_id)
        self.checks.record(user_id)
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
            await self._hubs.forget(exchange_id, api_key, secret, passphrase)
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
        old = (previous.api_key, previous.secret, previous.passphrase) if previous else None
        if previous is not None and old != (api_key, secret, passphrase):
            # Replaced: the old key's pooled client (and the old key in it) goes now.
            await self._hubs.forget(
                previous.exchange_id, previous.api_key, previous.secret, previous.passphrase
            )
        return account

    async def recheck(self, user_id: int) -> bool:
        """Does the stored key work again? One balance read, through the pooled client and the
        interactive share of the budget, before /run re-arms a key the bot paused as broken.
        Temporary exchange errors propagate: they say nothing about the key."""
        self.check_allowed(user_id)
        try:
            credentials = await self._accounts.credentials(user_id)
        except CredentialsError:
            return False
        hub = self._hubs.get(credentials.exchange_id)
        token = interactive.set(True)
        try:
            async with hub.private(
                credentials.api_key, credentials.secret, credentials.passphrase
            ) as account:
                await account.fetch_balances()
        except (AuthenticationFailed, PermissionDenied):
            self.checks.record(user_id)  # a dead key retried in a loop must not spend the weight
            return False
        finally:
            interactive.reset(token)
        return True

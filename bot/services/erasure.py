"""Forgetting a user's secrets wherever they live: the pooled exchange client holding the
plaintext key, the database rows, and the SQLite pages that still held them."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.engine import scrub_deleted
from bot.errors import CredentialsError, NotConfigured
from bot.services.accounts import Account, AccountService


class Erasure:
    def __init__(self, accounts: AccountService, hubs: Any, engine: AsyncEngine) -> None:
        self._accounts = accounts
        self._hubs = hubs
        self._engine = engine

    async def forget_client(self, user_id: int) -> None:
        """Close and drop the pooled exchange client of the user's stored credentials."""
        try:
            credentials = await self._accounts.credentials(user_id)
        except (NotConfigured, CredentialsError):
            return
        await self._hubs.forget(
            credentials.exchange_id, credentials.api_key, credentials.secret, credentials.passphrase
        )

    async def delete_keys(self, user_id: int) -> Account:
        """/deletekeys: the client first (it holds the key in memory), then the stored keys."""
        await self.forget_client(user_id)
        account = await self._accounts.delete_credentials(user_id)
        await scrub_deleted(self._engine)
        return account

    async def delete_user(self, user_id: int) -> None:
        """/deleteme and /admin remove: the client, then every record of the user."""
        await self.forget_client(user_id)
        await self._accounts.delete_user(user_id)
        await scrub_deleted(self._engine)

"""Operator tasks across all users: re-encrypting credentials under the newest master key."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.services.credentials import CredentialVault

_ENCRYPTED_FIELDS = (
    "api_key_encrypted",
    "api_secret_encrypted",
    "api_passphrase_encrypted",
    "cmc_api_key_encrypted",
)


async def rotate_credentials(
    session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
) -> int:
    """Re-encrypt every stored secret with the newest master; returns the number of users touched.

    One transaction for all: either every token moves to the new master or none does, so a crash
    halfway never leaves a mix that an operator might then break by dropping the old master.
    """
    async with session_factory() as session, session.begin():
        profiles = await Repositories(session).system.profiles_with_secrets()
        for profile in profiles:
            for field in _ENCRYPTED_FIELDS:
                token = getattr(profile, field)
                if token:
                    setattr(profile, field, vault.rotate(profile.user_id, token))
        return len(profiles)

"""Operator tasks across all users: re-encrypting credentials, and the master-key canary."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.errors import ConfigError
from bot.services.credentials import BOUND_PREFIX, COLUMNS, CredentialVault

CANARY_KEY = "master_key_canary"
WRONG_MASTER_KEY = (
    "cannot start: no key in ENCRYPTION_KEYS opens the secrets stored in this database. Set "
    "ENCRYPTION_KEYS to the key(s) it was encrypted with (newest first), or point DATABASE_URL "
    "at the database those keys belong to."
)


async def rotate_credentials(
    session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
) -> int:
    """Re-encrypt every stored secret with the newest master, bound to its column; returns
    the number of users touched. The canary moves to the newest master too.

    One transaction for all: either every token moves to the new master or none does, so a crash
    halfway never leaves a mix that an operator might then break by dropping the old master.
    """
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        canary = await repos.state.get(CANARY_KEY)
        if canary is not None and not vault.opens_canary(canary):
            raise ConfigError(WRONG_MASTER_KEY.replace("cannot start: ", "nothing rotated: "))
        profiles = await repos.system.profiles_with_secrets()
        for profile in profiles:
            for column, field in COLUMNS.items():
                token = getattr(profile, column)
                if token:
                    setattr(profile, column, vault.rotate(profile.user_id, token, field))
        await repos.state.set(CANARY_KEY, vault.make_canary())
        return len(profiles)


async def upgrade_credentials(
    session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
) -> int:
    """Bind every token of the first version (keyed per user only) to its column; at start-up.

    Such a token still opens with the user's key, so swapping a row's key and secret tokens
    would go unnoticed; re-encrypted under the field's key it cannot. Returns the users touched.
    """
    async with session_factory() as session, session.begin():
        profiles = await Repositories(session).system.profiles_with_unbound_secrets(BOUND_PREFIX)
        for profile in profiles:
            for column, field in COLUMNS.items():
                token = getattr(profile, column)
                if token and not vault.is_bound(token):
                    setattr(profile, column, vault.rotate(profile.user_id, token, field))
        return len(profiles)


async def check_master_keys(
    session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
) -> None:
    """Refuse (ConfigError) master keys that cannot open this database's secrets.

    The canary is an app_state row encrypted with the newest master when first written. Until
    it exists, one stored credential stands in for it (an install from before the canary).
    """
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        canary = await repos.state.get(CANARY_KEY)
        if canary is not None:
            if not vault.opens_canary(canary):
                raise ConfigError(WRONG_MASTER_KEY)
            return
        profile = await repos.system.one_profile_with_secrets()
        if profile is not None:
            column, field = next(
                (column, field) for column, field in COLUMNS.items() if getattr(profile, column)
            )
            if not vault.can_open(profile.user_id, getattr(profile, column), field):
                raise ConfigError(WRONG_MASTER_KEY)
        await repos.state.setdefault(CANARY_KEY, vault.make_canary())

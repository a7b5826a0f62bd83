"""What a serving process checks and settles in the database before it answers anyone."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.repositories import Repositories
from bot.services.credentials import CredentialVault
from bot.services.maintenance import check_master_keys, upgrade_credentials

log = logging.getLogger(__name__)

WEBHOOK_SECRET_KEY = "webhook_secret"  # noqa: S105 - the app_state row it is kept in
WEBHOOK_SECRET_BYTES = 32  # token_urlsafe: 43 characters of A-Z a-z 0-9 _ -


@dataclass(frozen=True, slots=True)
class StartUp:
    webhook_secret: str | None


async def webhook_secret(
    session_factory: async_sessionmaker[AsyncSession], configured: str | None
) -> str:
    """WEBHOOK_SECRET, or one generated once and kept in app_state for every later start."""
    if configured:
        return configured
    async with session_factory() as session, session.begin():
        return await Repositories(session).state.setdefault(
            WEBHOOK_SECRET_KEY, secrets.token_urlsafe(WEBHOOK_SECRET_BYTES)
        )


async def prepare_database(settings: Settings) -> StartUp:
    """Migrate; refuse master keys that cannot open the stored secrets (ConfigError); bind old
    tokens to their columns; settle the webhook secret when serving a webhook."""
    await upgrade(settings.database_url)
    vault = CredentialVault(settings.master_keys())
    engine = make_engine(settings.database_url)
    try:
        factory = make_session_factory(engine)
        await check_master_keys(factory, vault)
        upgraded = await upgrade_credentials(factory, vault)
        if upgraded:
            log.info("bound the stored credentials of %d user(s) to their fields", upgraded)
        secret = None
        if settings.webhook_url:
            configured = settings.webhook_secret
            secret = await webhook_secret(
                factory, configured.get_secret_value() if configured else None
            )
        return StartUp(webhook_secret=secret)
    finally:
        await engine.dispose()

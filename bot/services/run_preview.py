"""Previews kept as shown: a Confirm runs only the plan the user saw, once, within its time."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import StoredPreview
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.errors import PreviewExpired
from bot.services.run_plan import PREVIEW_TTL, shown_preview, stored_legs
from bot.services.run_result import Preview


class PreviewStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def store(self, preview: Preview) -> Preview:
        """Keep `preview` as shown; the returned copy carries the id its buttons use."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            await Repositories(session).previews.supersede(preview.user_id, now)
            row = await Repositories(session).previews.add(
                preview.user_id,
                created_at=now,
                expires_at=now + PREVIEW_TTL,
                dry_run=preview.dry_run,
                strategy_version=preview.strategy_version,
                quote_asset=preview.quote,
                total_value=preview.total_value,
                legs=stored_legs(preview),
            )
            return replace(preview, preview_id=row.id, created_at=now)

    async def take(self, user_id: int, preview_id: int) -> Preview:
        """The preview the user confirmed, used up; PreviewExpired when it is gone, used,
        past its time or someone else's."""
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            await repos.previews.purge(utcnow() - PREVIEW_TTL * 30)
            row = await repos.previews.take(user_id, preview_id, utcnow())
            if row is None:
                raise PreviewExpired("This preview has expired. Send /rebalance for a fresh one.")
            return shown_preview(user_id, row)

    async def load(self, user_id: int, preview_id: int) -> Preview | None:
        """A preview already taken by its Confirm (a queued manual run carries only its id)."""
        async with self._sessions() as session:
            row = await session.get(StoredPreview, preview_id)
            if row is None or row.user_id != user_id or row.used_at is None:
                return None
            return shown_preview(user_id, row)

    async def discard(self, user_id: int, preview_id: int) -> None:
        try:
            await self.take(user_id, preview_id)
        except PreviewExpired:
            pass

"""One scheduler and one sender among several `run` processes: the holder of a PostgreSQL
advisory lock, held on a connection of its own. PostgreSQL frees it when that process (or its
connection) dies, and a standby retrying every few seconds takes over."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.pool import NullPool

from bot.db.engine import make_engine

log = logging.getLogger(__name__)

LEADER_LOCK = (0x52424C02, 1)  # apart from the per-user run locks' namespace


class Leadership:
    def __init__(self, database_url: str, *, retry_seconds: float = 5.0) -> None:
        self._url = database_url
        self.retry_seconds = retry_seconds
        self._engine: AsyncEngine | None = None
        self._connection: AsyncConnection | None = None

    @property
    def held(self) -> bool:
        return self._connection is not None

    async def try_acquire(self) -> bool:
        if self._connection is not None:
            return True
        if self._engine is None:
            self._engine = make_engine(self._url, poolclass=NullPool)
        connection = await self._engine.connect()
        got = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:ns, :key)"),
            {"ns": LEADER_LOCK[0], "key": LEADER_LOCK[1]},
        )
        await connection.commit()
        if got:
            self._connection = connection
            return True
        await connection.close()
        return False

    async def acquire(self) -> None:
        """Wait until this process leads (a standby waits here)."""
        announced = False
        while not await self.try_acquire():
            if not announced:
                log.info("another process schedules and sends: standing by")
                announced = True
            await asyncio.sleep(self.retry_seconds)
        log.info("this process now schedules runs and sends reports")

    async def still_held(self) -> bool:
        """The lock lives as long as its connection: a dead connection means another process
        may lead already."""
        if self._connection is None:
            return False
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
        except Exception:
            log.error("the leader's database connection died: this process no longer leads")
            self._connection = None
            return False
        return True

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.close()  # closing the session frees the lock
            except Exception:
                log.warning("closing the leader connection failed", exc_info=True)
            self._connection = None
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

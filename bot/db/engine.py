"""Engine and session factory for SQLite (embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import logging
import os
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import ensure_sqlite_folder, sqlite_path

log = logging.getLogger(__name__)
PRIVATE_FILE = 0o600


def _private_sqlite_files(url: str) -> None:
    """The database file (and its WAL and shared-memory files, which SQLite creates with the
    database's mode) readable by its owner only, created so before SQLite first opens it."""
    path = sqlite_path(url)
    if path is None:
        return
    ensure_sqlite_folder(url)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists() and file.stat().st_mode & 0o077:
            file.chmod(PRIVATE_FILE)
            log.info("%s was readable by others; now by its owner only", file.name)


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine; SQLite gets WAL, foreign keys and a busy timeout so jobs can share it."""
    # A failed statement's exception text carries its parameters (ciphertext, users' data)
    # into any log line that records the error; keep them out.
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _private_sqlite_files(url)
        kwargs.setdefault("connect_args", {"timeout": 30})
        if ":memory:" not in url:
            # SQLite has one writer. Queueing for a single pooled connection in asyncio is far
            # cheaper than many connections meeting SQLite's busy handler, which sleeps.
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
            kwargs.setdefault("pool_timeout", 120)
        engine = create_async_engine(url, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            # Deleted rows (erased keys, a deleted user) are overwritten with zeros instead of
            # lingering in free pages of the file.
            cursor.execute("PRAGMA secure_delete=ON")
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def scrub_deleted(engine: AsyncEngine) -> None:
    """After erasing secrets: SQLite in WAL mode still holds the old pages in the -wal file
    until a checkpoint; copy them back (secure_delete zeroes them there) and truncate it."""
    if engine.dialect.name != "sqlite":
        return
    async with engine.connect() as connection:
        autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
        await autocommit.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))

"""Shared fixtures: a migrated database on SQLite always, and on PostgreSQL when configured."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade

POSTGRES_URL_VAR = "TEST_DATABASE_URL"
DB_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def postgres_url() -> str:
    """The PostgreSQL URL for tests, or a skip that says why they did not run.

    When the variable is set (CI sets it) an unreachable server is a failure, not a skip.
    """
    url = os.environ.get(POSTGRES_URL_VAR, "").strip()
    if not url:
        pytest.skip(f"{POSTGRES_URL_VAR} is not set: PostgreSQL tests skipped")
    return url


async def reset_postgres(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


@pytest.fixture(params=DB_KINDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """An empty database (no tables) of each kind."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/test.db"
    url = postgres_url()
    await reset_postgres(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A database migrated to head through Alembic, as production does it."""
    await upgrade(database_url)
    engine = make_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)

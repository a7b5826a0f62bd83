"""Migrations go up and down on every database, and agree with the models."""

from __future__ import annotations

from sqlalchemy import inspect

from bot.db.engine import make_engine
from bot.db.migrate import downgrade, pending_differences, upgrade
from bot.db.models import Base


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    assert await _tables(database_url) == set()
    await upgrade(database_url)
    assert set(Base.metadata.tables) <= await _tables(database_url)
    await downgrade(database_url)
    assert await _tables(database_url) <= {"alembic_version"}
    await upgrade(database_url)
    assert set(Base.metadata.tables) <= await _tables(database_url)


async def test_models_and_migrations_agree(database_url: str) -> None:
    await upgrade(database_url)
    assert await pending_differences(database_url) == []

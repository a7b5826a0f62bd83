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


async def test_runs_made_before_numbers_are_numbered_per_user(database_url: str) -> None:
    from sqlalchemy import text

    await upgrade(database_url, "0005_paper_wallet")
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            for user_id, telegram_id in ((1, 11), (2, 22)):
                await conn.execute(
                    text(
                        "INSERT INTO users (id, telegram_id, language, timezone, created_at, "
                        "blocked_bot) VALUES (:id, :tg, 'en', 'UTC', CURRENT_TIMESTAMP, false)"
                    ),
                    {"id": user_id, "tg": telegram_id},
                )
            for run_id, user_id in ((1, 1), (2, 2), (3, 1), (4, 1), (5, 2)):
                await conn.execute(
                    text(
                        "INSERT INTO rebalance_runs (id, user_id, trigger, dry_run, status, "
                        "quote_asset, started_at) VALUES (:id, :user, 'auto', true, "
                        "'succeeded', 'USDT', CURRENT_TIMESTAMP)"
                    ),
                    {"id": run_id, "user": user_id},
                )
        await upgrade(database_url)
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT id, number FROM rebalance_runs ORDER BY id"))
            assert [tuple(r) for r in rows] == [(1, 1), (2, 1), (3, 2), (4, 3), (5, 2)]
    finally:
        await engine.dispose()

"""Run Alembic migrations from code: at start-up, by command, and in tests."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.db.engine import make_engine
from bot.db.models import Base

ROOT = Path(__file__).resolve().parents[2]
MIGRATE_LOCK = 0x52424C0300  # a PostgreSQL advisory lock key of its own


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.set_main_option("sqlalchemy.url", url)
    cfg.attributes["configure_logging"] = False
    return cfg


async def _with_connection(url: str, action: str, revision: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes starting at once (the bot and its workers): one migrates,
                # the others wait for its commit and then find nothing to do.
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATE_LOCK}
                )

            def run(sync_connection: Connection) -> None:
                cfg = alembic_config(url)
                cfg.attributes["connection"] = sync_connection
                getattr(command, action)(cfg, revision)

            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


async def upgrade(url: str, revision: str = "head") -> None:
    await _with_connection(url, "upgrade", revision)


async def downgrade(url: str, revision: str = "base") -> None:
    await _with_connection(url, "downgrade", revision)


async def pending_differences(url: str) -> list[object]:
    """What autogenerate would change: empty when the models and the migrations agree."""
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:

            def compare(sync_connection: Connection) -> list[object]:
                context = MigrationContext.configure(sync_connection, opts={"compare_type": True})
                return list(compare_metadata(context, Base.metadata))

            return await connection.run_sync(compare)
    finally:
        await engine.dispose()

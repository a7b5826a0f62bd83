"""paper wallet for dry-run; snapshots marked paper or live

Revision ID: 0005_paper_wallet
Revises: 0004_previews
Create Date: 2026-12-01 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0005_paper_wallet"
down_revision: str | None = "0004_previews"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("paper_balances", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("paper_started_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("dry_run", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Snapshots so far: paper when their run was a dry run.
    snapshots = sa.table(
        "portfolio_snapshots", sa.column("run_id", sa.Integer()), sa.column("dry_run", sa.Boolean())
    )
    runs = sa.table("rebalance_runs", sa.column("id", sa.Integer()), sa.column("dry_run", sa.Boolean()))
    op.execute(
        snapshots.update()
        .where(
            snapshots.c.run_id.in_(sa.select(runs.c.id).where(runs.c.dry_run.is_(True)))
        )
        .values(dry_run=True)
    )
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.alter_column("dry_run", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("portfolio_snapshots", schema=None) as batch_op:
        batch_op.drop_column("dry_run")
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.drop_column("paper_started_at")
        batch_op.drop_column("paper_balances")

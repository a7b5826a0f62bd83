"""each user's runs numbered #1, #2, ... for /history; the last quiet report kept

Revision ID: 0006_run_numbers
Revises: 0005_paper_wallet
Create Date: 2026-12-01 14:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0006_run_numbers"
down_revision: str | None = "0005_paper_wallet"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("quiet_report_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("quiet_report_key", sa.String(length=255), nullable=True))
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("number", sa.Integer(), nullable=True))
    # Runs so far: numbered per user in the order they were made.
    runs = sa.table("rebalance_runs", sa.column("id", sa.Integer()), sa.column("user_id", sa.Integer()), sa.column("number", sa.Integer()))
    earlier = sa.alias(runs, "earlier")
    op.execute(
        runs.update().values(
            number=sa.select(sa.func.count())
            .select_from(earlier)
            .where(earlier.c.user_id == runs.c.user_id, earlier.c.id <= runs.c.id)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.alter_column("number", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index("ix_rebalance_runs_user_number", ["user_id", "number"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_rebalance_runs_user_number")
        batch_op.drop_column("number")
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.drop_column("quiet_report_key")
        batch_op.drop_column("quiet_report_at")

"""distributed mode: run slots unique per user, the queue's ledger, worker shards

Revision ID: 0007_distributed
Revises: 0006_run_numbers
Create Date: 2026-12-01 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0007_distributed"
down_revision: str | None = "0006_run_numbers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slot", sa.String(length=40), nullable=True))
        batch_op.create_unique_constraint("uq_rebalance_runs_user_slot", ["user_id", "slot"])
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shard", sa.String(length=32), nullable=True))
        batch_op.create_index("ix_users_shard", ["shard"], unique=False)
    op.create_table(
        "queued_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.String(length=40), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.String(length=32), nullable=False),
        sa.Column("preview_id", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("enqueued_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("done_at", bot.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_queued_runs_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_queued_runs")),
        sa.UniqueConstraint("user_id", "slot", name="uq_queued_runs_user_slot"),
    )
    op.create_index("ix_queued_runs_open", "queued_runs", ["done_at", "enqueued_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_queued_runs_open", table_name="queued_runs")
    op.drop_table("queued_runs")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("ix_users_shard")
        batch_op.drop_column("shard")
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.drop_constraint("uq_rebalance_runs_user_slot", type_="unique")
        batch_op.drop_column("slot")

"""exchange truth: fees per currency, order lookups, run revisions, leases, failure streaks

Revision ID: 0003_exchange_truth
Revises: 0002_app_state
Create Date: 2026-12-01 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import bot.db.types

revision: str = "0003_exchange_truth"
down_revision: str | None = "0002_app_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "run_leases",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("expires_at", bot.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_run_leases_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_run_leases")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fees", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("fee_quote", bot.db.types.Money(), nullable=True))
        batch_op.add_column(
            sa.Column("sent_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("lookups", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("next_check_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(batch_op.f("ix_orders_next_check_at"), ["next_check_at"])
    # One fee currency per order becomes a fee per currency.
    orders = sa.table(
        "orders",
        sa.column("id", sa.Integer()),
        sa.column("fee", sa.String()),
        sa.column("fee_currency", sa.String()),
        sa.column("fees", sa.JSON()),
    )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(orders.c.id, orders.c.fee, orders.c.fee_currency).where(
            orders.c.fee.is_not(None), orders.c.fee_currency.is_not(None)
        )
    ).all()
    for row in rows:
        connection.execute(
            orders.update()
            .where(orders.c.id == row.id)
            .values(fees={row.fee_currency: str(row.fee)})
        )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("fee")
        batch_op.drop_column("fee_currency")
        batch_op.alter_column("lookups", server_default=None)
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("revised_at", bot.db.types.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column(
                "revision_notified_at", bot.db.types.UTCDateTime(timezone=True), nullable=True
            )
        )
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failure_streak", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.alter_column("failure_streak", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("trader_sessions", schema=None) as batch_op:
        batch_op.drop_column("failure_streak")
    with op.batch_alter_table("rebalance_runs", schema=None) as batch_op:
        batch_op.drop_column("revision_notified_at")
        batch_op.drop_column("revised_at")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee", bot.db.types.Money(), nullable=True))
        batch_op.add_column(sa.Column("fee_currency", sa.String(length=16), nullable=True))
        batch_op.drop_index(batch_op.f("ix_orders_next_check_at"))
        batch_op.drop_column("next_check_at")
        batch_op.drop_column("lookups")
        batch_op.drop_column("sent_at")
        batch_op.drop_column("fee_quote")
        batch_op.drop_column("fees")
    op.drop_table("run_leases")

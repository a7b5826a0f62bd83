"""The database schema: SQLAlchemy 2 models, the seed's records kept by name where they fit."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.db.types import Money, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        Decimal: Money(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class RunTrigger(enum.StrEnum):
    MANUAL = "manual"
    AUTO = "auto"


class RunStatus(enum.StrEnum):
    PLANNED = "planned"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"
    # Over, but the exchange has not yet said what became of an order (a lost answer): its
    # orders stay on the reconcile list and the record is corrected when the exchange answers.
    UNRESOLVED = "unresolved"

    @property
    def is_final(self) -> bool:
        return self not in (RunStatus.PLANNED, RunStatus.EXECUTING)


class NotifyLevel(enum.StrEnum):
    ALL = "all"
    TRADES = "trades"
    ERRORS = "errors"
    OFF = "off"


class StrategyKind(enum.StrEnum):
    FIXED = "fixed"
    EQUAL = "equal"
    INDEX = "index"


class User(Base):
    """One private Telegram chat = one account."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    telegram_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    blocked_bot: Mapped[bool] = mapped_column(Boolean, default=False)
    blocked_at: Mapped[datetime | None]
    # Distributed mode: the worker shard (one egress IP) that runs this user's rebalances.
    shard: Mapped[str | None] = mapped_column(String(32), index=True)

    profile: Mapped[UserProfile] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )
    session: Mapped[TraderSession] = relationship(
        back_populates="user", cascade="all, delete-orphan", passive_deletes=True
    )


class UserProfile(Base):
    """Exchange credentials (encrypted) and the user's standing preferences."""

    __tablename__ = "user_profiles"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    exchange_id: Mapped[str] = mapped_column(String(32), default="binance")
    api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    api_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    api_passphrase_encrypted: Mapped[str | None] = mapped_column(Text)
    key_hint: Mapped[str | None] = mapped_column(String(16))
    permissions: Mapped[dict[str, Any] | None]
    ip_restricted: Mapped[bool | None] = mapped_column(Boolean)
    validated_at: Mapped[datetime | None]
    cmc_api_key_encrypted: Mapped[str | None] = mapped_column(Text)
    default_interval: Mapped[int] = mapped_column(Integer, default=86400)  # seconds
    auto_rebalance: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="profile")

    @property
    def has_credentials(self) -> bool:
        return bool(self.api_key_encrypted and self.api_secret_encrypted)

    def __repr__(self) -> str:
        # Never show encrypted blobs either: they are secrets at rest.
        return (
            f"UserProfile(user_id={self.user_id}, exchange={self.exchange_id}, "
            f"hint={self.key_hint})"
        )


class TraderSession(Base):
    """The scheduling state of one user's automatic rebalancing."""

    __tablename__ = "trader_sessions"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    is_running: Mapped[bool] = mapped_column(Boolean, default=False)
    next_run_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_portfolio: Mapped[dict[str, Any] | None]
    last_result: Mapped[dict[str, Any] | None]
    dry_run: Mapped[bool] = mapped_column(Boolean, default=True)
    notify_level: Mapped[str] = mapped_column(String(16), default=NotifyLevel.ALL.value)
    paused_reason: Mapped[str | None] = mapped_column(String(64))
    # Scheduled runs in a row that failed for a reason the user or we must fix (not an
    # exchange outage); automation pauses when it reaches a few.
    failure_streak: Mapped[int] = mapped_column(Integer, default=0)
    # Dry-run's paper wallet (asset -> "amount"): seeded from the real balances (or an amount
    # of the quote), moved by every simulated fill. None: seed it at the next dry run.
    paper_balances: Mapped[dict[str, Any] | None]
    paper_started_at: Mapped[datetime | None]
    # The last "no rebalance needed" push and what it was about: at most one a day unless
    # the mode, threshold or targets changed.
    quiet_report_at: Mapped[datetime | None]
    quiet_report_key: Mapped[str | None] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    user: Mapped[User] = relationship(back_populates="session")


class PortfolioTarget(Base):
    """The user's strategy: which weights to hold, and when drift is worth a trade."""

    __tablename__ = "portfolio_targets"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(16), default=StrategyKind.FIXED.value)
    quote_asset: Mapped[str] = mapped_column(String(16), default="USDT")
    weights: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # asset -> "percent"
    index_size: Mapped[int | None] = mapped_column(Integer)
    index_cap: Mapped[Decimal | None]
    exclusions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    threshold: Mapped[Decimal] = mapped_column(default=Decimal(5))  # percentage points
    min_trade: Mapped[Decimal] = mapped_column(default=Decimal(10))  # in the quote asset
    # Bumped by every change to what a plan is made from: a preview shown before a change is
    # not the plan the user would confirm after it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RebalanceRun(Base):
    """One rebalance run, manual or scheduled (the seed's TradeHistory)."""

    __tablename__ = "rebalance_runs"
    __table_args__ = (
        Index("ix_rebalance_runs_user_started", "user_id", "started_at"),
        UniqueConstraint("user_id", "slot", name="uq_rebalance_runs_user_slot"),
        Index("ix_rebalance_runs_user_number", "user_id", "number", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The user's own run number (#1, #2, ...): what /history shows and `/history #12` opens.
    number: Mapped[int] = mapped_column(Integer)
    trigger: Mapped[str] = mapped_column(String(16))
    dry_run: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.PLANNED.value, index=True)
    quote_asset: Mapped[str] = mapped_column(String(16), default="USDT")
    plan: Mapped[dict[str, Any] | None]
    result: Mapped[dict[str, Any] | None]
    error: Mapped[str | None] = mapped_column(Text)
    value_before: Mapped[Decimal | None]
    value_after: Mapped[Decimal | None]
    fees: Mapped[Decimal | None]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    notified_at: Mapped[datetime | None]
    # Reconciliation changed the outcome after it was reported: the user is told once.
    revised_at: Mapped[datetime | None]
    revision_notified_at: Mapped[datetime | None]
    # What the run was enqueued for (a scheduled fire time, or a manual run's id): a task the
    # queue delivers twice finds its run by it (distributed mode; NULL in embedded runs).
    slot: Mapped[str | None] = mapped_column(String(40))

    orders: Mapped[list[Order]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class Order(Base):
    """One order sent (or simulated) during a run, recorded as it returns."""

    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(
        ForeignKey("rebalance_runs.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    client_order_id: Mapped[str] = mapped_column(String(36), unique=True)
    leg_id: Mapped[str] = mapped_column(String(16))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(4))
    amount: Mapped[Decimal | None]
    cost: Mapped[Decimal | None]
    price: Mapped[Decimal | None]
    filled: Mapped[Decimal | None]
    fees: Mapped[dict[str, Any] | None]  # currency -> "amount"; None: not reported yet
    fee_quote: Mapped[Decimal | None]  # the fees in the run's quote, each at its own price
    status: Mapped[str] = mapped_column(String(16))
    error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]  # when the request left (the lookup window starts here)
    lookups: Mapped[int] = mapped_column(Integer, default=0)  # lookups that missed it
    next_check_at: Mapped[datetime | None] = mapped_column(index=True)  # due for a lookup
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    run: Mapped[RebalanceRun] = relationship(back_populates="orders")


class AppState(Base):
    """Process-wide facts that must survive restarts and be shared by every process on the
    database: the install salt of client order ids, the operator's kill switch, the webhook
    secret, the master-key canary. One row per key; values are short texts."""

    __tablename__ = "app_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StoredPreview(Base):
    """A rebalance preview as the user saw it, so a Confirm runs only that plan (and survives
    a restart). Used once; expires after a couple of minutes."""

    __tablename__ = "previews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    dry_run: Mapped[bool] = mapped_column(Boolean)
    strategy_version: Mapped[int] = mapped_column(Integer)
    quote_asset: Mapped[str] = mapped_column(String(16))
    total_value: Mapped[Decimal]
    legs: Mapped[list[Any]] = mapped_column(JSON)  # [{side, symbol, asset, amount, cost, value}]


class RunLease(Base):
    """Who runs a user's rebalance now, until when (SQLite; PostgreSQL uses advisory locks).
    A process renews its leases while it runs; a dead one's leases expire."""

    __tablename__ = "run_leases"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    owner: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class PortfolioSnapshot(Base):
    """The portfolio's value and holdings at one moment, for charts and performance."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (Index("ix_portfolio_snapshots_user_taken", "user_id", "taken_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("rebalance_runs.id", ondelete="SET NULL"))
    taken_at: Mapped[datetime] = mapped_column(default=utcnow)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)  # a paper wallet's value
    quote_asset: Mapped[str] = mapped_column(String(16))
    total_value: Mapped[Decimal]
    holdings: Mapped[dict[str, Any]]  # asset -> {"amount": "...", "value": "..."}


class QueuedRun(Base):
    """A run handed to the queue (distributed mode). The database, not Redis, is the source
    of truth: a slot still open here long after it was enqueued, with no run row, is sent
    again (Redis lost it); one a worker finished is closed, whatever its run did."""

    __tablename__ = "queued_runs"
    __table_args__ = (
        UniqueConstraint("user_id", "slot", name="uq_queued_runs_user_slot"),
        Index("ix_queued_runs_open", "done_at", "enqueued_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    slot: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(16))
    shard: Mapped[str] = mapped_column(String(32))
    # A manual run: the preview the user confirmed, and the message to edit with its result.
    preview_id: Mapped[int | None] = mapped_column(Integer)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    sends: Mapped[int] = mapped_column(Integer, default=1)
    done_at: Mapped[datetime | None]

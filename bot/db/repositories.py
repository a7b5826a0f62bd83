"""Data access scoped by user: every query on user data takes the user id; nothing here commits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import (
    Order,
    PortfolioSnapshot,
    PortfolioTarget,
    RebalanceRun,
    RunLease,
    RunStatus,
    StoredPreview,
    TraderSession,
    User,
    UserProfile,
)
from bot.db.repositories_base import UNSETTLED_ORDERS, _Repository
from bot.db.repositories_system import AppStateRepository, SystemRepository
from bot.db.types import utcnow


class UserRepository(_Repository):
    async def by_telegram_id(self, telegram_id: int) -> User | None:
        """The account of a chat: the chat id is the identity, so this is the one lookup by it."""
        return await self.session.scalar(select(User).where(User.telegram_id == telegram_id))

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def with_settings(
        self, *, user_id: int | None = None, telegram_id: int | None = None
    ) -> tuple[User, UserProfile, TraderSession, PortfolioTarget] | None:
        """A user and the three rows every update reads, in one query (by id or by chat)."""
        query = (
            select(User, UserProfile, TraderSession, PortfolioTarget)
            .join(UserProfile, UserProfile.user_id == User.id)
            .join(TraderSession, TraderSession.user_id == User.id)
            .join(PortfolioTarget, PortfolioTarget.user_id == User.id)
        )
        if user_id is not None:
            query = query.where(User.id == user_id)
        elif telegram_id is not None:
            query = query.where(User.telegram_id == telegram_id)
        else:
            raise ValueError("user_id or telegram_id")
        row = (await self.session.execute(query)).first()
        return None if row is None else (row[0], row[1], row[2], row[3])

    async def create(self, telegram_id: int, *, language: str, timezone: str = "UTC") -> User:
        """A new account with its profile, trading session and an empty strategy."""
        user = User(telegram_id=telegram_id, language=language, timezone=timezone)
        self.session.add(user)
        await self.session.flush()
        self.session.add_all(
            [
                UserProfile(user_id=user.id),
                TraderSession(user_id=user.id),
                PortfolioTarget(user_id=user.id, weights={}, exclusions=[]),
            ]
        )
        await self.session.flush()
        return user

    async def set_blocked(self, user_id: int, blocked: bool) -> None:
        await self.session.execute(
            update(User)
            .where(User.id == user_id)
            .values(blocked_bot=blocked, blocked_at=utcnow() if blocked else None)
        )

    async def delete(self, user_id: int) -> None:
        """Erase every record of the user (children cascade in the database and here)."""
        for model in (
            Order,
            PortfolioSnapshot,
            RebalanceRun,
            PortfolioTarget,
            StoredPreview,
            RunLease,
        ):
            await self.session.execute(delete(model).where(model.user_id == user_id))
        await self.session.execute(delete(TraderSession).where(TraderSession.user_id == user_id))
        await self.session.execute(delete(UserProfile).where(UserProfile.user_id == user_id))
        await self.session.execute(delete(User).where(User.id == user_id))


class ProfileRepository(_Repository):
    async def get(self, user_id: int) -> UserProfile | None:
        return await self.session.get(UserProfile, user_id)


class SessionRepository(_Repository):
    async def get(self, user_id: int) -> TraderSession | None:
        return await self.session.get(TraderSession, user_id)


class TargetRepository(_Repository):
    async def get(self, user_id: int) -> PortfolioTarget | None:
        return await self.session.get(PortfolioTarget, user_id)


class RunRepository(_Repository):
    async def add(self, user_id: int, **fields: Any) -> RebalanceRun:
        """A new run with the user's next number (runs of a user are serialized by the run
        lock; the unique index catches anything else)."""
        last = await self.session.scalar(
            select(func.max(RebalanceRun.number)).where(RebalanceRun.user_id == user_id)
        )
        run = RebalanceRun(user_id=user_id, number=int(last or 0) + 1, **fields)
        self.session.add(run)
        await self.session.flush()
        return run

    async def get(self, user_id: int, run_id: int) -> RebalanceRun | None:
        return await self.session.scalar(
            select(RebalanceRun).where(RebalanceRun.user_id == user_id, RebalanceRun.id == run_id)
        )

    async def latest(self, user_id: int, *, limit: int = 5, offset: int = 0) -> list[RebalanceRun]:
        rows = await self.session.scalars(
            select(RebalanceRun)
            .where(RebalanceRun.user_id == user_id)
            .order_by(RebalanceRun.started_at.desc(), RebalanceRun.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return list(rows)

    async def by_number(self, user_id: int, number: int) -> RebalanceRun | None:
        return await self.session.scalar(
            select(RebalanceRun).where(
                RebalanceRun.user_id == user_id, RebalanceRun.number == number
            )
        )

    async def count(self, user_id: int) -> int:
        total = await self.session.scalar(
            select(func.count()).select_from(RebalanceRun).where(RebalanceRun.user_id == user_id)
        )
        return int(total or 0)

    async def unfinished(self, user_id: int) -> list[RebalanceRun]:
        rows = await self.session.scalars(
            select(RebalanceRun).where(
                RebalanceRun.user_id == user_id,
                RebalanceRun.status.in_([RunStatus.PLANNED.value, RunStatus.EXECUTING.value]),
            )
        )
        return list(rows)

    async def total_fees(self, user_id: int, *, dry_run: bool = False) -> dict[str, Decimal]:
        """Fees paid per currency on live (or simulated) orders, summed in Python to stay exact
        everywhere."""
        rows = await self.session.scalars(
            select(Order.fees)
            .join(RebalanceRun, RebalanceRun.id == Order.run_id)
            .where(
                Order.user_id == user_id,
                RebalanceRun.user_id == user_id,
                RebalanceRun.dry_run.is_(dry_run),
                Order.fees.is_not(None),
            )
        )
        totals: dict[str, Decimal] = {}
        for fees in rows:
            for currency, amount in (fees or {}).items():
                totals[currency] = totals.get(currency, Decimal(0)) + Decimal(str(amount))
        return {currency: amount for currency, amount in totals.items() if amount}

    async def traded(self, user_id: int, run_ids: list[int]) -> set[int]:
        """Which of these runs filled at least one order (chart markers)."""
        if not run_ids:
            return set()
        rows = await self.session.scalars(
            select(Order.run_id)
            .where(Order.user_id == user_id, Order.run_id.in_(run_ids), Order.filled > 0)
            .distinct()
        )
        return set(rows)

    async def fees_in_quote(self, user_id: int, *, dry_run: bool = False) -> Decimal:
        """Every run's fees valued in its quote when it ran (runs keep that total)."""
        total = await self.session.scalar(
            select(func.sum(RebalanceRun.fees)).where(
                RebalanceRun.user_id == user_id, RebalanceRun.dry_run.is_(dry_run)
            )
        )
        return Decimal(str(total or 0))


class OrderRepository(_Repository):
    async def add(self, user_id: int, run_id: int, **fields: Any) -> Order:
        order = Order(user_id=user_id, run_id=run_id, **fields)
        self.session.add(order)
        await self.session.flush()
        return order

    async def for_run(self, user_id: int, run_id: int) -> list[Order]:
        rows = await self.session.scalars(
            select(Order).where(Order.user_id == user_id, Order.run_id == run_id).order_by(Order.id)
        )
        return list(rows)

    async def by_client_id(self, user_id: int, client_order_id: str) -> Order | None:
        return await self.session.scalar(
            select(Order).where(Order.user_id == user_id, Order.client_order_id == client_order_id)
        )

    async def count_unsettled(self, user_id: int) -> int:
        total = await self.session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.user_id == user_id, Order.status.in_(UNSETTLED_ORDERS))
        )
        return int(total or 0)

    async def unsettled(self, user_id: int) -> list[Order]:
        """Orders whose outcome the exchange has not told us yet, and absent ones still being
        re-checked: the user's reconcile list."""
        rows = await self.session.scalars(
            select(Order)
            .where(
                Order.user_id == user_id,
                Order.status.in_(UNSETTLED_ORDERS)
                | ((Order.status == "not_placed") & Order.next_check_at.is_not(None)),
            )
            .order_by(Order.id)
        )
        return list(rows)


class PreviewRepository(_Repository):
    async def add(self, user_id: int, **fields: Any) -> StoredPreview:
        preview = StoredPreview(user_id=user_id, **fields)
        self.session.add(preview)
        await self.session.flush()
        return preview

    async def supersede(self, user_id: int, now: datetime) -> None:
        """A newer preview replaces the user's open ones: only what they saw last confirms."""
        await self.session.execute(
            update(StoredPreview)
            .where(StoredPreview.user_id == user_id, StoredPreview.used_at.is_(None))
            .values(used_at=now)
        )

    async def take(self, user_id: int, preview_id: int, now: datetime) -> StoredPreview | None:
        """The user's preview if it is still valid, marked used in the same statement: a
        Confirm runs a preview once, even when two presses race."""
        result = await self.session.execute(
            update(StoredPreview)
            .where(
                StoredPreview.user_id == user_id,
                StoredPreview.id == preview_id,
                StoredPreview.used_at.is_(None),
                StoredPreview.expires_at > now,
            )
            .values(used_at=now)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        return await self.session.get(StoredPreview, preview_id)

    async def purge(self, before: datetime) -> None:
        """Previews that expired before `before` (any user: housekeeping)."""
        await self.session.execute(delete(StoredPreview).where(StoredPreview.expires_at < before))


class SnapshotRepository(_Repository):
    async def add(self, user_id: int, **fields: Any) -> PortfolioSnapshot:
        snapshot = PortfolioSnapshot(user_id=user_id, **fields)
        self.session.add(snapshot)
        await self.session.flush()
        return snapshot

    async def series(
        self,
        user_id: int,
        *,
        since: datetime | None = None,
        limit: int = 5000,
        dry_run: bool | None = None,
    ) -> list[PortfolioSnapshot]:
        """Snapshots oldest first (the newest `limit` of them), for charts and performance;
        `dry_run` keeps one mode's (paper and live values never share a series)."""
        query = select(PortfolioSnapshot).where(PortfolioSnapshot.user_id == user_id)
        if dry_run is not None:
            query = query.where(PortfolioSnapshot.dry_run.is_(dry_run))
        if since is not None:
            query = query.where(PortfolioSnapshot.taken_at >= since)
        rows = await self.session.scalars(
            query.order_by(PortfolioSnapshot.taken_at.desc(), PortfolioSnapshot.id.desc()).limit(
                limit
            )
        )
        return list(reversed(list(rows)))

    async def first(self, user_id: int) -> PortfolioSnapshot | None:
        return await self.session.scalar(
            select(PortfolioSnapshot)
            .where(PortfolioSnapshot.user_id == user_id)
            .order_by(PortfolioSnapshot.taken_at, PortfolioSnapshot.id)
            .limit(1)
        )


class Repositories:
    """Every repository over one session: one unit of work per use case."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.users = UserRepository(session)
        self.profiles = ProfileRepository(session)
        self.sessions = SessionRepository(session)
        self.targets = TargetRepository(session)
        self.runs = RunRepository(session)
        self.orders = OrderRepository(session)
        self.snapshots = SnapshotRepository(session)
        self.previews = PreviewRepository(session)
        self.system = SystemRepository(session)
        self.state = AppStateRepository(session)

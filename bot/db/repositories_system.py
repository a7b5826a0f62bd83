"""Queries across users (reconciliation, reports owed, housekeeping) and the app-wide state."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from bot.db.models import (
    AppState,
    Order,
    RebalanceRun,
    RunStatus,
    TraderSession,
    User,
    UserProfile,
)
from bot.db.repositories_base import UNSETTLED_ORDERS, _Repository


class SystemRepository(_Repository):
    """The few queries that span users on purpose: start-up, the scheduler, admin, key rotation.

    Kept apart so that a query here is an explicit decision, never an accident of a handler.
    """

    async def running_sessions(self) -> Sequence[tuple[TraderSession, UserProfile, User]]:
        """Every user whose automation is on and who has not blocked the bot, in one query."""
        rows = await self.session.execute(
            select(TraderSession, UserProfile, User)
            .join(UserProfile, UserProfile.user_id == TraderSession.user_id)
            .join(User, User.id == TraderSession.user_id)
            .where(TraderSession.is_running.is_(True), User.blocked_bot.is_(False))
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def paused_sessions(
        self, reason: str
    ) -> Sequence[tuple[TraderSession, UserProfile, User]]:
        rows = await self.session.execute(
            select(TraderSession, UserProfile, User)
            .join(UserProfile, UserProfile.user_id == TraderSession.user_id)
            .join(User, User.id == TraderSession.user_id)
            .where(TraderSession.is_running.is_(False), TraderSession.paused_reason == reason)
        )
        return [(row[0], row[1], row[2]) for row in rows]

    async def unreported_runs(
        self, since: datetime, triggers: list[str], final: list[str]
    ) -> list[RebalanceRun]:
        rows = await self.session.scalars(
            select(RebalanceRun)
            .where(
                RebalanceRun.trigger.in_(triggers),
                RebalanceRun.notified_at.is_(None),
                RebalanceRun.status.in_(final),
                RebalanceRun.started_at >= since,
            )
            .order_by(RebalanceRun.id)
        )
        return list(rows)

    async def users_to_reconcile(self, now: datetime, *, shard: str | None = None) -> list[int]:
        """Users with a run left open, or an order due for a lookup (the reconcile list); with
        `shard`, only its users (those with none yet belong to the "default" shard)."""
        open_runs = select(RebalanceRun.user_id).where(
            RebalanceRun.status.in_([RunStatus.PLANNED.value, RunStatus.EXECUTING.value])
        )
        due = select(Order.user_id).where(
            (Order.status.in_(UNSETTLED_ORDERS) & (Order.next_check_at.is_(None)))
            | (Order.next_check_at <= now)
        )
        rows = set(await self.session.scalars(open_runs.union(due)))
        if shard is not None and rows:
            mine = User.shard == shard
            if shard == "default":
                mine = mine | User.shard.is_(None)
            rows &= set(await self.session.scalars(select(User.id).where(User.id.in_(rows), mine)))
        return sorted(rows)

    async def revised_runs(self, since: datetime) -> list[RebalanceRun]:
        """Runs whose reported outcome reconciliation changed, not yet told to their user."""
        rows = await self.session.scalars(
            select(RebalanceRun)
            .where(
                RebalanceRun.revised_at.is_not(None),
                RebalanceRun.revision_notified_at.is_(None),
                RebalanceRun.revised_at >= since,
            )
            .order_by(RebalanceRun.id)
        )
        return list(rows)

    async def unfinished_runs(self) -> list[RebalanceRun]:
        rows = await self.session.scalars(
            select(RebalanceRun).where(
                RebalanceRun.status.in_([RunStatus.PLANNED.value, RunStatus.EXECUTING.value])
            )
        )
        return list(rows)

    async def profiles_with_secrets(self) -> list[UserProfile]:
        rows = await self.session.scalars(
            select(UserProfile).where(
                (UserProfile.api_key_encrypted.is_not(None))
                | (UserProfile.cmc_api_key_encrypted.is_not(None))
            )
        )
        return list(rows)

    async def profiles_with_unbound_secrets(self, bound_prefix: str) -> list[UserProfile]:
        """Profiles holding a token without the current format's prefix (to re-encrypt)."""
        columns = (
            UserProfile.api_key_encrypted,
            UserProfile.api_secret_encrypted,
            UserProfile.api_passphrase_encrypted,
            UserProfile.cmc_api_key_encrypted,
        )
        unbound = [
            column.is_not(None) & ~column.startswith(bound_prefix, autoescape=True)
            for column in columns
        ]
        rows = await self.session.scalars(select(UserProfile).where(or_(*unbound)))
        return list(rows)

    async def one_profile_with_secrets(self) -> UserProfile | None:
        return await self.session.scalar(
            select(UserProfile)
            .where(
                (UserProfile.api_key_encrypted.is_not(None))
                | (UserProfile.cmc_api_key_encrypted.is_not(None))
            )
            .limit(1)
        )

    async def stats_since(self, since: datetime) -> dict[str, int]:
        users = await self.session.scalar(select(func.count()).select_from(User))
        active = await self.session.scalar(
            select(func.count())
            .select_from(TraderSession)
            .where(TraderSession.is_running.is_(True))
        )
        runs = await self.session.scalar(
            select(func.count()).select_from(RebalanceRun).where(RebalanceRun.started_at >= since)
        )
        failures = await self.session.scalar(
            select(func.count())
            .select_from(RebalanceRun)
            .where(
                RebalanceRun.started_at >= since,
                RebalanceRun.status.in_([RunStatus.FAILED.value, RunStatus.INTERRUPTED.value]),
            )
        )
        return {
            "users": int(users or 0),
            "active": int(active or 0),
            "runs": int(runs or 0),
            "failures": int(failures or 0),
        }


class AppStateRepository(_Repository):
    """Process-wide key/value facts (not user data): see `AppState`."""

    async def get(self, key: str) -> str | None:
        row = await self.session.get(AppState, key)
        return None if row is None else row.value

    async def set(self, key: str, value: str) -> None:
        row = await self.session.get(AppState, key)
        if row is None:
            self.session.add(AppState(key=key, value=value))
        else:
            row.value = value
        await self.session.flush()

    async def setdefault(self, key: str, value: str) -> str:
        """The stored value, or `value` stored now; safe when two processes race to set it."""
        existing = await self.get(key)
        if existing is not None:
            return existing
        try:
            async with self.session.begin_nested():
                self.session.add(AppState(key=key, value=value))
        except IntegrityError:
            stored = await self.get(key)
            if stored is None:  # pragma: no cover - the other writer deleted it again
                raise
            return stored
        return value

    async def delete(self, key: str) -> None:
        await self.session.execute(delete(AppState).where(AppState.key == key))

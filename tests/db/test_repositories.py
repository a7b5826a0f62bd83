"""Repositories: scoped by user, exact with money, aware with time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, User
from bot.db.repositories import Repositories

T0 = datetime(2026, 1, 1, tzinfo=UTC)


async def _populate(repos: Repositories, telegram_id: int, tag: str) -> User:
    user = await repos.users.create(telegram_id, language="en")
    run = await repos.runs.add(
        user.id,
        trigger="manual",
        dry_run=False,
        status=RunStatus.SUCCEEDED.value,
        plan={"tag": tag},
        started_at=T0 + timedelta(minutes=telegram_id),
    )
    await repos.runs.add(user.id, trigger="auto", dry_run=True, status=RunStatus.EXECUTING.value)
    await repos.orders.add(
        user.id,
        run.id,
        client_order_id=f"cid-{tag}",
        leg_id="s1",
        symbol="BTC/USDT",
        side="sell",
        amount=Decimal("0.001"),
        fees={"USDT": "0.01"},
        status="closed",
    )
    await repos.snapshots.add(
        user.id,
        quote_asset="USDT",
        total_value=Decimal("100.5"),
        holdings={"tag": tag},
        taken_at=T0 + timedelta(minutes=telegram_id),
    )
    return user


async def test_user_a_never_sees_user_b(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        a = await _populate(repos, 111, "a")
        b = await _populate(repos, 222, "b")

    async with session_factory() as session:
        repos = Repositories(session)
        for me, other, tag in ((a, b, "a"), (b, a, "b")):
            assert (await repos.users.by_telegram_id(111 if tag == "a" else 222)).id == me.id
            assert (await repos.profiles.get(me.id)).user_id == me.id
            assert (await repos.sessions.get(me.id)).user_id == me.id
            assert (await repos.targets.get(me.id)).user_id == me.id
            runs = await repos.runs.latest(me.id, limit=50)
            assert runs
            assert {r.user_id for r in runs} == {me.id}
            assert await repos.runs.count(me.id) == 2
            assert {r.user_id for r in await repos.runs.unfinished(me.id)} == {me.id}
            mine = next(r for r in runs if r.plan)
            assert mine.plan == {"tag": tag}
            other_runs = await repos.runs.latest(other.id, limit=50)
            for run in other_runs:
                # Another user's run id is invisible through my user id.
                assert await repos.runs.get(me.id, run.id) is None
                assert await repos.orders.for_run(me.id, run.id) == []
            orders = await repos.orders.for_run(me.id, mine.id)
            assert [o.client_order_id for o in orders] == [f"cid-{tag}"]
            assert await repos.orders.by_client_id(me.id, f"cid-{tag}") is not None
            other_cid = "cid-b" if tag == "a" else "cid-a"
            assert await repos.orders.by_client_id(me.id, other_cid) is None
            snaps = await repos.snapshots.series(me.id)
            assert [s.holdings for s in snaps] == [{"tag": tag}]
            assert (await repos.snapshots.first(me.id)).holdings == {"tag": tag}
            assert await repos.runs.total_fees(me.id) == {"USDT": Decimal("0.01")}


async def test_money_is_exact_and_times_are_aware(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    amount = Decimal("12345678901234567890.123456789012345678")
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        user = await repos.users.create(5, language="uk")
        await repos.snapshots.add(
            user.id, quote_asset="USDT", total_value=amount, holdings={}, taken_at=T0
        )
    async with session_factory() as session:
        snap = (await Repositories(session).snapshots.series(user.id))[0]
        assert snap.total_value == amount
        assert snap.taken_at == T0
        assert snap.taken_at.tzinfo is not None


async def test_naive_datetimes_and_floats_are_refused(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session:
        repos = Repositories(session)
        user = await repos.users.create(6, language="en")
        with pytest.raises(Exception, match="timezone-aware"):
            await repos.snapshots.add(
                user.id,
                quote_asset="USDT",
                total_value=Decimal(1),
                holdings={},
                taken_at=datetime(2026, 1, 1),  # noqa: DTZ001 - the point of the test
            )
        await session.rollback()
        user = await repos.users.create(7, language="en")
        with pytest.raises(Exception, match="never float"):
            await repos.snapshots.add(user.id, quote_asset="USDT", total_value=1.5, holdings={})


async def test_delete_user_erases_everything(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        a = await _populate(repos, 1, "a")
        b = await _populate(repos, 2, "b")
    async with session_factory() as session, session.begin():
        await Repositories(session).users.delete(a.id)
    async with session_factory() as session:
        repos = Repositories(session)
        assert await repos.users.get(a.id) is None
        assert await repos.profiles.get(a.id) is None
        assert await repos.runs.count(a.id) == 0
        assert await repos.snapshots.series(a.id) == []
        assert await repos.runs.count(b.id) == 2


async def test_system_queries(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        a = await _populate(repos, 1, "a")
        await _populate(repos, 2, "b")
        (await repos.sessions.get(a.id)).is_running = True
    async with session_factory() as session:
        system = Repositories(session).system
        running = await system.running_sessions()
        assert [s.user_id for s, _p, _u in running] == [a.id]
        assert len(await system.unfinished_runs()) == 2
        stats = await system.stats_since(T0 - timedelta(days=1))
        assert stats == {"users": 2, "active": 1, "runs": 4, "failures": 0}

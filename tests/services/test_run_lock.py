"""One run per user across processes: two Rebalancers, each with its own engine (as two
processes would have), on one database."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.engine import make_engine, make_session_factory
from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.errors import RunInProgress
from bot.services.accounts import AccountService
from bot.services.credentials import CredentialVault
from bot.services.exchange import ExchangeHubs
from bot.services.marketcap import MarketCapService
from bot.services.rebalancer import Rebalancer
from bot.services.run_lock import LockLost, RunLocks
from tests.services.conftest import MASTER, Engine

START = {"USDT": "1000", "BTC": "0.01"}


@pytest.fixture
async def second_process(database_url: str, engine_services: Engine) -> AsyncIterator[Rebalancer]:
    """Another process on the same database: its own engine, pool, hubs and locks."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    hubs = ExchangeHubs(engine_services.settings)
    marketcap = MarketCapService(engine_services.settings)
    rebalancer = Rebalancer(
        sessions, AccountService(sessions, CredentialVault([MASTER])), hubs, marketcap
    )
    yield rebalancer
    await rebalancer.close()
    await hubs.close()
    await marketcap.close()
    await engine.dispose()


async def test_two_processes_never_run_one_user_twice(
    engine_services: Engine, second_process: Rebalancer
) -> None:
    user_id, api_key = await engine_services.user(1, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=0.3, method="POST", count=None)
    first = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    while not engine_services.fake.orders(api_key):  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.02)
    with pytest.raises(RunInProgress):
        await second_process.run(user_id, RunTrigger.AUTO)
    # Its reconciliation leaves the live run alone: the owner is alive.
    assert await second_process.reconcile() == 0
    result = await first
    assert result.status == RunStatus.SUCCEEDED.value
    symbols = [o.symbol for o in engine_services.fake.orders(api_key)]
    assert len(symbols) == len(set(symbols))  # BNB, BTC, ETH bought once each
    # Once it is over, the other process may run the user.
    again = await second_process.run(user_id, RunTrigger.AUTO)
    assert again.status == RunStatus.SKIPPED.value


async def test_many_racing_runs_of_one_user_across_processes_place_one_plan(
    engine_services: Engine, second_process: Rebalancer
) -> None:
    user_id, api_key = await engine_services.user(2, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=0.05, method="POST", count=None)
    attempts = [
        (engine_services.rebalancer if i % 2 else second_process).run(user_id, RunTrigger.AUTO)
        for i in range(10)
    ]
    outcomes = await asyncio.gather(*attempts, return_exceptions=True)
    ran = [o for o in outcomes if not isinstance(o, BaseException)]
    assert all(isinstance(o, RunInProgress) for o in outcomes if isinstance(o, BaseException))
    assert sum(1 for r in ran if r.status == RunStatus.SUCCEEDED.value) == 1
    symbols = [o.symbol for o in engine_services.fake.orders(api_key)]
    assert len(symbols) == len(set(symbols))


async def test_a_dead_process_s_run_is_reconciled_by_the_next(
    engine_services: Engine,
    second_process: Rebalancer,
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    """A run left open by a process that died (its lock gone with it) is closed by another."""
    user_id, _key = await engine_services.user(3, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=5.0, method="POST", count=None)
    task = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    while engine_services.fake.count("/api/v3/order", "POST") < 1:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    task.cancel()  # the process dies mid-order; its lock goes with it
    with pytest.raises(asyncio.CancelledError):
        await task
    engine_services.fake.clear_faults()
    assert await second_process.reconcile() == 1
    async with session_factory() as session:
        (run,) = await Repositories(session).runs.latest(user_id)
    assert run.status == RunStatus.INTERRUPTED.value


async def test_an_expired_lease_is_taken_over_and_its_holder_stops(
    session_factory: async_sessionmaker[AsyncSession], engine_services: Engine, database_url: str
) -> None:
    """SQLite: a process that stalls past its lease loses it; its next order is refused."""
    if database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL holds an advisory lock for as long as the connection lives")
    user_id, _key = await engine_services.user(4, START)
    stalled = RunLocks(session_factory, lease_seconds=0.3, owner="stalled")
    other = RunLocks(session_factory, owner="other")
    async with stalled.hold(user_id) as guard:
        await guard.check()
        stalled_heartbeat_gap = 0.6
        # The stalled process's heartbeat cannot keep up (we freeze it by not yielding to it
        # long enough): take over once the lease is past its expiry.
        async with session_factory() as session, session.begin():
            from bot.db.models import RunLease

            lease = await session.get(RunLease, user_id)
            assert lease is not None
            lease.expires_at = utcnow() - timedelta(seconds=stalled_heartbeat_gap)
        async with other.hold(user_id):
            with pytest.raises(LockLost):
                await guard.check()

"""A worker killed mid-run, two processes racing for one user, Redis losing everything."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select

from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import QueuedRun, RebalanceRun, RunStatus, RunTrigger
from bot.distributed.broker import RESULTS_STREAM
from bot.distributed.dispatch import Dispatcher
from bot.services.accounts import AccountService
from bot.services.credentials import CredentialVault
from bot.services.rebalancer import Rebalancer
from bot.services.run_lock import RunLocks
from tests.distributed.conftest import MASTER, Workers, add_users, env_for, settings_for

LIVE_START = {"USDT": "1000"}
THREE_BUYS = {"BTC": 40, "ETH": 30, "BNB": 30}


@dataclass
class _Rig:
    """What each test here drives: the database, a scheduler's queue and worker processes."""

    settings: Settings
    engine: Any
    sessions: Any
    queue: Dispatcher
    workers: Workers


def _rig(
    pg_url: str,
    redis_url: str,
    fakes: Any,
    tmp_path: Path,
    workers_factory: list[Workers],
    **env: str,
) -> _Rig:
    exchange, caps = fakes
    settings = settings_for(pg_url, redis_url, exchange, caps)
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    workers = Workers(env_for(pg_url, redis_url, exchange, caps, **env), tmp_path)
    workers_factory.append(workers)
    return _Rig(settings, engine, sessions, Dispatcher(settings, sessions), workers)


async def _until(predicate, timeout: float, what: str, every: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


async def _results(redis_url: str) -> list[dict[str, str]]:
    client = Redis.from_url(redis_url)
    try:
        entries = await client.xrange(RESULTS_STREAM)
    finally:
        await client.aclose()
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


async def _open_slots(sessions) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(QueuedRun).where(QueuedRun.done_at.is_(None))
        )
    return int(count or 0)


async def test_a_worker_killed_after_its_first_order_is_finished_by_another(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    exchange = fakes[0]
    [user] = await add_users(
        pg_url, 1, exchange=exchange, live=True, start=LIVE_START, weights=THREE_BUYS
    )
    rig = _rig(pg_url, redis_url, fakes, tmp_path, workers_factory, QUEUE_IDLE_TIMEOUT_SECONDS="3")
    engine, sessions, queue, workers = rig.engine, rig.sessions, rig.queue, rig.workers
    # Every order takes a while to answer: the worker dies with its second one in flight.
    exchange.inject("/api/v3/order", "latency", delay=2.0, count=None, method="POST")
    first = await workers.start("first")
    try:
        assert await queue.enqueue(user, RunTrigger.AUTO, "s20261201T090000")

        async def second_order_sent() -> bool:
            posts = [
                r for r in exchange.requests if r.path == "/api/v3/order" and r.method == "POST"
            ]
            return len(posts) >= 2

        await _until(second_order_sent, 60, "the second order to be sent")
        first.send_signal(signal.SIGKILL)
        await first.wait()
        exchange.clear_faults()
        await asyncio.sleep(2.5)  # the order in flight is booked by the exchange all the same
        assert len(exchange.order_book) == 2
        await workers.start("second")

        async def finished() -> bool:
            await queue.tick()  # an idle queue claims a dead worker's message only after a read
            return await _open_slots(sessions) == 0

        await _until(finished, 90, "another worker to finish the run", every=1.0)
    finally:
        await workers.stop_all()
        await queue.close()
    async with sessions() as session:
        runs = list(await session.scalars(select(RebalanceRun)))
    await engine.dispose()
    assert len(runs) == 1
    run = runs[0]
    assert run.status == RunStatus.SUCCEEDED.value, (
        run.status,
        run.error,
        workers.log("second")[-3000:],
    )
    bought = Counter(o.symbol for o in exchange.order_book)
    assert bought == Counter({"BTCUSDT": 1, "ETHUSDT": 1, "BNBUSDT": 1})  # none placed twice
    assert len({o.client_order_id for o in exchange.order_book}) == 3
    # The one left was sent by the second worker, under a new attempt's client id.
    assert sum("-r" in o.client_order_id for o in exchange.order_book) == 1
    assert len(run.result["orders"]) == 3  # the record has all three, under one run id
    reports = [r for r in await _results(redis_url) if r.get("user") == str(user)]
    assert len(reports) == 1, reports
    assert reports[0]["kind"] == "result"
    assert reports[0]["run_id"] == str(run.id)
    assert "Traceback" not in workers.log("second")


async def test_a_manual_run_and_a_scheduled_run_of_one_user_never_overlap(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    """The bot's manual run holds the user's PostgreSQL lock: the worker's scheduled run of
    the same user is skipped; and a manual run while a worker runs that user is refused."""
    exchange = fakes[0]
    [user] = await add_users(
        pg_url, 1, exchange=exchange, live=True, start=LIVE_START, weights=THREE_BUYS
    )
    rig = _rig(pg_url, redis_url, fakes, tmp_path, workers_factory)
    engine, sessions, queue, workers = rig.engine, rig.sessions, rig.queue, rig.workers
    await workers.start("w")
    locks = RunLocks(sessions)
    try:
        async with locks.hold(user):  # what the bot's manual run holds while it runs
            assert await queue.enqueue(user, RunTrigger.AUTO, "s20261201T090000")
            await _until(
                lambda: _is_zero(_open_slots(sessions)), 60, "the scheduled run to be handled"
            )
        async with sessions() as session:
            assert await session.scalar(select(func.count()).select_from(RebalanceRun)) == 0
        # Now the other way round: the worker runs the user (slowly), the bot's manual run
        # is refused while it does.
        exchange.inject("/api/v3/order", "latency", delay=1.5, count=None, method="POST")
        assert await queue.enqueue(user, RunTrigger.AUTO, "s20261201T100000")

        async def order_in_flight() -> bool:
            return any(r.path == "/api/v3/order" for r in exchange.requests)

        await _until(order_in_flight, 60, "the worker's run to place an order")
        vault = CredentialVault([MASTER])
        accounts = AccountService(sessions, vault)
        from bot.services.exchange import ExchangeHubs
        from bot.services.marketcap import MarketCapService

        hubs = ExchangeHubs(rig.settings)
        rebalancer = Rebalancer(
            sessions, accounts, hubs, MarketCapService(rig.settings), locks=locks
        )
        from bot.errors import RunInProgress

        try:
            try:
                await rebalancer.run(user, RunTrigger.MANUAL)
            except RunInProgress:
                refused = True
            else:
                refused = False
        finally:
            await hubs.close()
        assert refused
        exchange.clear_faults()
        await _until(lambda: _is_zero(_open_slots(sessions)), 60, "the worker's run to end")
    finally:
        await workers.stop_all()
        await locks.close()
        await queue.close()
    async with sessions() as session:
        runs = list(await session.scalars(select(RebalanceRun)))
    await engine.dispose()
    assert [r.trigger for r in runs] == ["auto"]
    assert Counter(o.symbol for o in exchange.order_book) == Counter(
        {"BTCUSDT": 1, "ETHUSDT": 1, "BNBUSDT": 1}
    )


async def _is_zero(count) -> bool:  # type: ignore[no-untyped-def]
    return (await count) == 0


async def test_redis_losing_everything_mid_wave_still_runs_each_slot_once(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    users = await add_users(pg_url, 200)
    rig = _rig(pg_url, redis_url, fakes, tmp_path, workers_factory)
    engine, sessions, queue, workers = rig.engine, rig.sessions, rig.queue, rig.workers
    await workers.start("w1")
    await workers.start("w2")
    client = Redis.from_url(redis_url)
    try:
        await queue.sweep()  # the leader's first sweep sets the epoch
        assert all(
            await asyncio.gather(
                *(queue.enqueue(u, RunTrigger.AUTO, "s20261201T090000") for u in users)
            )
        )

        async def some_done() -> bool:
            return await _open_slots(sessions) < 160

        await _until(some_done, 120, "the wave to get going")
        await client.flushdb()  # a restart without persistence: queue, groups, results gone
        resent = await queue.sweep()
        assert resent > 0

        async def all_done() -> bool:
            await queue.sweep()
            return await _open_slots(sessions) == 0

        await _until(all_done, 180, "every slot to be run after the loss", every=1.0)
    finally:
        await workers.stop_all()
        await client.aclose()
        await queue.close()
    async with sessions() as session:
        per_user = (
            await session.execute(
                select(RebalanceRun.user_id, func.count()).group_by(RebalanceRun.user_id)
            )
        ).all()
    await engine.dispose()
    assert len(per_user) == len(users)
    assert all(count == 1 for _user, count in per_user)
    for name in ("w1", "w2"):
        assert "Traceback" not in workers.log(name) or "NOGROUP" in workers.log(name)


async def test_a_stopping_worker_lets_reading_runs_go_back_and_finishes_trading_ones(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    exchange = fakes[0]
    reading, trading = await add_users(
        pg_url, 2, exchange=exchange, live=True, start=LIVE_START, weights=THREE_BUYS
    )
    rig = _rig(pg_url, redis_url, fakes, tmp_path, workers_factory, QUEUE_IDLE_TIMEOUT_SECONDS="3")
    engine, sessions, queue, workers = rig.engine, rig.sessions, rig.queue, rig.workers
    first = await workers.start("first")
    try:
        # The trading user's run is placing orders (slowly) when SIGTERM arrives; the other
        # user's run is still reading its balances (slowly).
        exchange.inject("/api/v3/order", "latency", delay=1.5, count=None, method="POST")
        assert await queue.enqueue(trading, RunTrigger.AUTO, "s20261201T090000")

        async def trading_started() -> bool:
            return any(r.path == "/api/v3/order" for r in exchange.requests)

        await _until(trading_started, 60, "the first run to place an order")
        exchange.inject("/sapi/v3/asset/getUserAsset", "latency", delay=30.0, count=1)
        assert await queue.enqueue(reading, RunTrigger.AUTO, "s20261201T090000")

        async def reading_started() -> bool:
            return any(r.path == "/sapi/v3/asset/getUserAsset" for r in exchange.requests[-5:])

        await _until(reading_started, 60, "the second run to read balances")
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.wait(), timeout=60)
        assert first.returncode == 0, workers.log("first")[-3000:]
        async with sessions() as session:
            runs = {r.user_id: r for r in await session.scalars(select(RebalanceRun))}
        assert runs[trading].status == RunStatus.SUCCEEDED.value  # it finished its orders
        assert reading not in runs  # let go before anything was recorded
        exchange.clear_faults()
        await workers.start("second")

        async def finished() -> bool:
            await queue.tick()
            return await _open_slots(sessions) == 0

        await _until(finished, 90, "the let-go run to be delivered again", every=1.0)
    finally:
        await workers.stop_all()
        await queue.close()
    async with sessions() as session:
        per_user = Counter(r.user_id for r in await session.scalars(select(RebalanceRun)))
    await engine.dispose()
    assert per_user == Counter({reading: 1, trading: 1})
    assert "let go" in workers.log("first")

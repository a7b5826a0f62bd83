"""Exactly-once effect on an at-least-once queue: the wave through two worker processes."""

from __future__ import annotations

import asyncio
import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from bot.app import running
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import QueuedRun, RebalanceRun, RunTrigger
from bot.db.types import utcnow
from bot.services.accounts import AccountService
from bot.services.credentials import CredentialVault
from tests.distributed.conftest import MASTER, Workers, add_users, env_for, settings_for
from tests.fakes.telegram import FakeTelegram

USERS = int(os.environ.get("DIST_USERS", "1000"))


async def _postpone(pg: str, users: list[int]) -> None:
    """Their own schedules stay out of the way: the test enqueues the wave itself."""
    engine = make_engine(pg)
    accounts = AccountService(make_session_factory(engine), CredentialVault([MASTER]))
    later = utcnow() + timedelta(days=1)
    for user_id in users:
        await accounts.set_schedule(user_id, next_run_at=later)
    await engine.dispose()


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


async def test_wave_runs_once_each_through_two_workers(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    exchange, caps = fakes
    users = await add_users(pg_url, USERS)
    await _postpone(pg_url, users)
    workers = Workers(env_for(pg_url, redis_url, exchange, caps), tmp_path)
    workers_factory.append(workers)
    await workers.start("w1")
    await workers.start("w2")
    engine = make_engine(pg_url)
    sessions = make_session_factory(engine)
    async with FakeTelegram() as telegram:
        settings = settings_for(
            pg_url,
            redis_url,
            exchange,
            caps,
            telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url,
        )
        async with running(settings) as application:
            queue = application.bot_data["services"].queue
            slot = "s20261201T090000"
            started = time.monotonic()
            sent = await asyncio.gather(
                *(queue.enqueue(user_id, RunTrigger.AUTO, slot) for user_id in users)
            )
            assert all(sent)
            enqueue_seconds = time.monotonic() - started
            # A second scheduler enqueueing the same slot is refused; a redelivery (the same
            # task again, as after a lost ack) runs nothing twice.
            assert not await queue.enqueue(users[0], RunTrigger.AUTO, slot)
            await queue._kick_many([(u, "auto", slot, "default", None, None) for u in users[:100]])

            async def all_done() -> bool:
                async with sessions() as session:
                    open_ = await session.scalar(
                        select(func.count())
                        .select_from(QueuedRun)
                        .where(QueuedRun.done_at.is_(None))
                    )
                return (
                    open_ == 0
                    and sum(len(telegram.messages(700_000 + i)) for i in range(USERS)) >= USERS
                )

            await _wait(all_done, 240, "every run to finish and be reported")
            await asyncio.sleep(3)  # the 100 redeliveries drain too: nothing more may arrive
        async with sessions() as session:
            runs = (
                await session.execute(
                    select(RebalanceRun.user_id, func.count()).group_by(RebalanceRun.user_id)
                )
            ).all()
            unreported = await session.scalar(
                select(func.count())
                .select_from(RebalanceRun)
                .where(RebalanceRun.notified_at.is_(None))
            )
        await engine.dispose()
        assert len(runs) == USERS
        assert all(count == 1 for _user, count in runs)
        assert unreported == 0
        per_chat = [len(telegram.messages(700_000 + i)) for i in range(USERS)]
        assert per_chat == [1] * USERS, [c for c in per_chat if c != 1][:5]
    await workers.stop_all()
    for name in ("w1", "w2"):
        log = workers.log(name)
        assert "Traceback" not in log, log[-3000:]
    print(f"enqueued {USERS} runs in {enqueue_seconds:.2f} s")

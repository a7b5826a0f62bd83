"""Scheduled runs: a job fires and notifies, survives a restart, and /stop cancels it."""

from __future__ import annotations

import asyncio
import time

from bot import jobs
from bot.app import running
from bot.db.engine import make_engine, make_session_factory
from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from tests.e2e.conftest import World, connect
from tests.services.conftest import spend_every_budget


def _is_report(message: object) -> bool:
    text = getattr(message, "text", "")
    return "Dry run" in text or "No rebalance needed" in text


async def test_job_fires_survives_restart_and_stops(stopped_world: World) -> None:
    world = stopped_world
    telegram, settings = world.telegram, world.settings
    chat = world.chat(3001)
    async with running(settings):
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        answer = await chat.ask("/interval 2s")
        assert "2 seconds" in answer.text
        started = await chat.ask("/run")
        assert "Auto ON" in started.text
        report = await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
        assert "Dry run" in report.text
    # A new process on the same database restores the job, and it fires again.
    telegram.drain(chat.chat_id)
    async with running(settings) as app:
        assert app.job_queue is not None
        user_jobs = [j for j in app.job_queue.jobs() if j.name != "reconcile"]
        assert [j.name for j in user_jobs] == ["rebalance:1"]
        report = await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
        assert report.text
        stopped = await chat.ask("/stop")
        assert "off" in stopped.text
        assert all(j.removed for j in app.job_queue.jobs() if j.name != "reconcile")
        telegram.drain(chat.chat_id)
        await asyncio.sleep(3)
        assert not [m for m in telegram.drain(chat.chat_id) if _is_report(m)]


async def test_next_sets_the_next_run(world: World) -> None:
    chat = world.chat(3002)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    answer = await chat.ask("/timezone Europe/Kyiv")
    assert "Europe/Kyiv" in answer.text
    answer = await chat.ask("/next 2099-01-01 09:00")
    assert "more than a year" in answer.text
    answer = await chat.ask("/next 23:59")
    assert "23:59" in answer.text
    await chat.press(answer, "Yes")  # automation was off: /next asked before starting it
    status = await chat.ask("/status")
    assert "23:59" in status.text


async def test_graceful_stop_does_not_wait_for_the_weight_budget(stopped_world: World) -> None:
    """SIGTERM while scheduled runs queue behind Binance's spent budget: the process stops at
    once, the run it let go stays due, and the next start runs and reports it."""
    world = stopped_world
    telegram, exchange, settings = world.telegram, world.exchange, world.settings
    chat = world.chat(3003)
    async with running(settings) as app:
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        await chat.ask("/interval 2s")
        await chat.ask("/run")
        await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
        spend_every_budget(app.bot_data["services"].hubs.get("binance").budgets)
        reads = exchange.count("/sapi/v3/asset/getUserAsset")
        await asyncio.sleep(3)  # the job has fired again and is queued
        assert exchange.count("/sapi/v3/asset/getUserAsset") == reads
        telegram.drain(chat.chat_id)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5
    assert exchange.count("/sapi/v3/asset/getUserAsset") == reads
    assert not telegram.drain(chat.chat_id)  # nothing said about a run that did not happen
    async with running(settings) as app:
        # It runs; its "no rebalance needed" is not pushed again the same day.
        history = app.bot_data["services"].history
        runs = (await history.page(1)).total
        for _attempt in range(200):
            if (await history.page(1)).total > runs:
                break
            await asyncio.sleep(0.1)
        assert (await history.page(1)).total > runs


async def test_a_manual_run_cut_by_a_crash_is_reported_after_the_restart(
    stopped_world: World,
) -> None:
    """The user pressed Confirm and saw "Placing orders…"; then the process died. The next start
    closes the run and tells them, once, even with /notify off (they asked for this run)."""
    world = stopped_world
    telegram, settings = world.telegram, world.settings
    chat = world.chat(3004)
    async with running(settings):
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        await chat.ask("/notify off")
    engine = make_engine(settings.database_url)
    try:
        async with make_session_factory(engine)() as session, session.begin():
            repos = Repositories(session)
            user = await repos.users.by_telegram_id(chat.chat_id)
            assert user is not None
            await repos.runs.add(  # what a crash while placing orders leaves behind
                user.id,
                trigger=RunTrigger.MANUAL.value,
                dry_run=False,
                status=RunStatus.EXECUTING.value,
                quote_asset="USDT",
                started_at=utcnow(),
            )
    finally:
        await engine.dispose()
    telegram.drain(chat.chat_id)
    async with running(settings):
        report = await telegram.wait_for_message(chat.chat_id, timeout=10)
        assert "interrupted by a restart" in report.text
    async with running(settings):
        await asyncio.sleep(1)
    assert not telegram.drain(chat.chat_id)  # once, not at every start


async def test_next_sent_during_a_run_is_not_overwritten_by_it(stopped_world: World) -> None:
    """The run under way finishes after the user moved the next run: their time stays, in the
    chat, in the database, and in the job a restart re-creates."""
    world = stopped_world
    telegram, exchange, settings = world.telegram, world.exchange, world.settings
    chat = world.chat(3005)
    async with running(settings) as app:
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        await chat.ask("/interval 2s")
        reads = exchange.count("/sapi/v3/asset/getUserAsset")
        exchange.inject("/sapi/v3/asset/getUserAsset", "latency", delay=1.5)
        await chat.ask("/run")
        for _ in range(100):  # the job fired: its balance read hangs at the exchange
            if exchange.count("/sapi/v3/asset/getUserAsset") > reads:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the scheduled run did not start")
        moved = await chat.ask("/next 23:59")
        assert "23:59" in moved.text, moved.text
        report = await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
        assert report.text
        status = await chat.ask("/status")
        assert "23:59" in status.text, status.text
        job_time = jobs.next_run_time(app, 1)
        assert job_time is not None
        assert job_time.strftime("%H:%M") == "23:59"
    async with running(settings) as app:  # a restart follows the user's time, not the run's
        job_time = jobs.next_run_time(app, 1)
        assert job_time is not None
        assert job_time.strftime("%H:%M") == "23:59"
        status = await chat.ask("/status")
        assert "23:59" in status.text, status.text

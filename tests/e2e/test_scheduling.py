"""Scheduled runs: a job fires and notifies, survives a restart, and /stop cancels it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import running
from tests.e2e.conftest import World, connect, e2e_settings
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram


def _is_report(message: object) -> bool:
    text = getattr(message, "text", "")
    return "Dry run" in text or "No rebalance needed" in text


async def test_job_fires_survives_restart_and_stops(tmp_path: Path) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    async with (
        FakeTelegram() as telegram,
        FakeBinance() as exchange,
        FakeMarketCaps() as caps,
    ):
        settings = e2e_settings(telegram, exchange, caps, db)
        world = World(telegram, exchange, settings)
        chat = world.chat(3001)
        async with running(settings):
            await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
            answer = await chat.ask("/interval 2s")
            assert "2 seconds" in answer.text
            started = await chat.ask("/run")
            assert "on" in started.text
            report = await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
            assert "Dry run" in report.text
        # A new process on the same database restores the job, and it fires again.
        telegram.drain(chat.chat_id)
        async with running(settings) as app:
            assert app.job_queue is not None
            assert [j.name for j in app.job_queue.jobs()] == ["rebalance:1"]
            report = await telegram.wait_for_message(chat.chat_id, predicate=_is_report, timeout=20)
            assert report.text
            stopped = await chat.ask("/stop")
            assert "off" in stopped.text
            assert app.job_queue.jobs() == () or all(j.removed for j in app.job_queue.jobs())
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
    status = await chat.ask("/status")
    assert "23:59" in status.text

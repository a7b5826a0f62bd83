"""Capacity: 10,000 users with automation on, in a fresh process: time to restore every job at
start-up, resident memory idle with them, and memory per user."""

from __future__ import annotations

import asyncio
import gc
import os
import tempfile
import time
from typing import Any

import psutil

from bench.common import database_url, save, table
from bench.telegram_load import bench_settings, seed_users
from bot import jobs
from bot.app import build_application
from bot.services.container import Services
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram

CAPACITY_USERS = int(os.environ.get("BENCH_CAPACITY_USERS", "10000"))


async def capacity() -> dict[str, Any]:
    process = psutil.Process()
    with tempfile.TemporaryDirectory() as folder:
        db = await database_url(folder)
        await seed_users(db, CAPACITY_USERS, running_jobs=True)
        async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
            settings = bench_settings(telegram, exchange, caps, db)
            app = build_application(settings)
            await app.initialize()
            services = await Services.create(settings)
            app.bot_data["services"] = services
            assert app.job_queue is not None
            await app.job_queue.start()
            gc.collect()
            before = process.memory_info().rss
            started = time.perf_counter()
            restored = await jobs.restore_jobs(app)
            seconds = time.perf_counter() - started
            gc.collect()
            await asyncio.sleep(1)  # idle: the scheduler holds every job, none is due yet
            after = process.memory_info().rss
            await app.job_queue.stop(wait=False)
            await app.shutdown()
            await services.close()
    return {
        "users": CAPACITY_USERS,
        "jobs_restored": restored,
        "restore_seconds": round(seconds, 2),
        "rss_mb_idle_with_jobs": round(after / 2**20, 1),
        "rss_mb_before_jobs": round(before / 2**20, 1),
        "rss_kb_per_user": round((after - before) / CAPACITY_USERS / 1024, 2),
        "targets": {"restore_seconds": 10, "rss_mb": 400},
    }


async def main() -> None:
    figures = await capacity()
    table("capacity", figures)
    save("capacity", figures, ".venv/bin/python -m bench.capacity")


if __name__ == "__main__":
    asyncio.run(main())

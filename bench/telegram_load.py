"""Telegram-side load: notifications against Telegram's limits and 500 users asking /status at once
(paced to Telegram's limit, and with the pacing lifted to show the bot's own cost)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
from decimal import Decimal
from typing import Any
from unittest import mock

from sqlalchemy import insert
from telegram.ext import AIORateLimiter, ExtBot

from bench.common import database_url, save, table
from bot.app import make_rate_limiter, running
from bot.config import Settings
from bot.db.engine import make_engine
from bot.db.migrate import upgrade
from bot.db.models import PortfolioTarget, TraderSession, User, UserProfile
from bot.db.types import utcnow
from bot.services.credentials import CredentialVault
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram

NOTIFICATIONS = int(os.environ.get("BENCH_NOTIFICATIONS", "1000"))
STATUS_USERS = int(os.environ.get("BENCH_STATUS_USERS", "500"))


def bench_settings(
    telegram: FakeTelegram, exchange: FakeBinance, caps: FakeMarketCaps, db: str
) -> Settings:
    return Settings(  # type: ignore[call-arg]
        telegram_bot_token=telegram.token,
        telegram_api_base_url=telegram.base_url,
        binance_api_url=exchange.url,
        coingecko_api_url=caps.coingecko_url,
        encryption_keys=CredentialVault.generate_master_key(),
        database_url=db,
        exchange_rate_limit=False,
        _env_file=None,
    )


async def notifications() -> dict[str, Any]:
    """N messages to N chats through PTB's AIORateLimiter, the fake enforcing 30/s and 1/s/chat."""
    async with FakeTelegram(enforce_limits=True) as telegram:
        bot = ExtBot(telegram.token, base_url=telegram.base_url, rate_limiter=make_rate_limiter())
        async with bot:
            started = time.perf_counter()
            await asyncio.gather(
                *(
                    bot.send_message(10_000 + i, f"Rebalance done #{i}")
                    for i in range(NOTIFICATIONS)
                )
            )
            wall = time.perf_counter() - started
        delivered = sum(len(m) for m in telegram.sent.values())
        return {
            "messages": NOTIFICATIONS,
            "delivered": delivered,
            "wall_seconds": round(wall, 2),
            "messages_per_second": round(delivered / wall, 1),
            "limit_per_second": 30,
            "too_many_requests_429": telegram.too_many_requests,
        }


async def seed_users(db: str, count: int, *, running_jobs: bool) -> None:
    await upgrade(db)
    engine = make_engine(db)
    now = utcnow()
    async with engine.begin() as conn:
        rows = [
            {
                "id": i + 1,
                "telegram_id": 50_000 + i,
                "language": "uk" if i % 2 else "en",
                "timezone": "UTC",
                "created_at": now,
                "blocked_bot": False,
            }
            for i in range(count)
        ]
        for chunk in range(0, count, 2000):
            part = rows[chunk : chunk + 2000]
            await conn.execute(insert(User), part)
            await conn.execute(
                insert(UserProfile),
                [
                    {
                        "user_id": r["id"],
                        "exchange_id": "binance",
                        "default_interval": 3600,
                        "auto_rebalance": running_jobs,
                        "updated_at": now,
                    }
                    for r in part
                ],
            )
            await conn.execute(
                insert(TraderSession),
                [
                    {
                        "user_id": r["id"],
                        "is_running": running_jobs,
                        "dry_run": True,
                        "notify_level": "all",
                        "next_run_at": now,
                        "updated_at": now,
                    }
                    for r in part
                ],
            )
            await conn.execute(
                insert(PortfolioTarget),
                [
                    {
                        "user_id": r["id"],
                        "kind": "fixed",
                        "quote_asset": "USDT",
                        "weights": {"BTC": "50", "USDT": "50"},
                        "exclusions": [],
                        "threshold": Decimal(5),
                        "min_trade": Decimal(10),
                        "updated_at": now,
                    }
                    for r in part
                ],
            )
    await engine.dispose()


async def status_burst(*, telegram_limit: bool = True) -> dict[str, Any]:
    """N users send /status at the same moment; latency from the push to the reply's arrival.

    `telegram_limit=False` lifts the bot's pacing to Telegram's ~30 messages/s, to show what the
    bot itself costs (as the wave lifts the exchange's weight limit)."""
    pacing = (
        contextlib.nullcontext()
        if telegram_limit
        else mock.patch(  # overall_max_rate=0: no overall throttling
            "bot.app.make_rate_limiter",
            return_value=AIORateLimiter(overall_max_rate=0, max_retries=0),
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        db = await database_url(folder)
        await seed_users(db, STATUS_USERS, running_jobs=False)
        async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
            with pacing:
                async with running(bench_settings(telegram, exchange, caps, db)):
                    chats = [50_000 + i for i in range(STATUS_USERS)]
                    pushed = {}
                    started = time.perf_counter()
                    for chat in chats:
                        pushed[chat] = time.perf_counter()
                        telegram.push_text(chat, "/status")
                    latencies = []
                    for chat in chats:
                        await telegram.wait_for_message(chat, timeout=120)
                        latencies.append(time.perf_counter() - pushed[chat])
                    wall = time.perf_counter() - started
        latencies.sort()
        return {
            "users": STATUS_USERS,
            "wall_seconds": round(wall, 2),
            "updates_per_second": round(STATUS_USERS / wall, 1),
            "p50_ms": round(statistics.median(latencies) * 1000),
            "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000),
            "note": (
                "replies paced to Telegram's ~30 messages/s overall"
                if telegram_limit
                else "pacing lifted: the bot's own cost"
            ),
        }


async def main() -> None:
    results = {
        "notifications": await notifications(),
        "status_burst": await status_burst(),
        "status_burst_unpaced": await status_burst(telegram_limit=False),
    }
    for name, figures in results.items():
        table(name, figures)
    save("telegram_load", results, ".venv/bin/python -m bench.telegram_load")


if __name__ == "__main__":
    asyncio.run(main())

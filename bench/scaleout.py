"""Distributed mode against embedded: a wave of due runs through the Redis queue and two
`rebalance-bot worker` processes, and the same wave run in one process, side by side.

Needs PostgreSQL (BENCH_DATABASE_URL, emptied first; default the local `test` database) and
Redis (BENCH_REDIS_URL, default db 14 on 127.0.0.1, flushed first). The fake exchange keeps
Binance's rules but not its request budget (`bench.wave` measures the budget): this measures
the queue and the engine.

Figures: the wave's enqueue time; enqueue-to-start at a steady rate (p50/p99, from each
queued row's enqueue time to its run's start, which is after the run's first reads); runs
per second end to end; the embedded mode's runs per second on the same machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import func, select, text

from bench.common import save, table
from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import QueuedRun, RunTrigger
from bot.db.types import utcnow
from bot.distributed.dispatch import Dispatcher
from bot.services.accounts import AccountService, Strategy
from bot.services.container import Services
from bot.services.credentials import CredentialVault
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps

USERS = int(os.environ.get("SCALEOUT_USERS", "10000"))
LIVE_USERS = int(os.environ.get("SCALEOUT_LIVE_USERS", "2000"))
RATE = float(os.environ.get("SCALEOUT_RATE", "100"))  # runs/s for the steady phase
STEADY_SECONDS = float(os.environ.get("SCALEOUT_STEADY_SECONDS", "20"))
WORKERS = 2
PG = os.environ.get("BENCH_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
MASTER = CredentialVault.generate_master_key()
ROOT = Path(__file__).resolve().parents[1]


async def _fresh_database() -> None:
    engine = make_engine(PG)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    await upgrade(PG)


async def _users(
    count: int, exchange: FakeBinance, *, live: bool, first: int, running: bool = True
) -> list[int]:
    engine = make_engine(PG)
    accounts = AccountService(make_session_factory(engine), CredentialVault([MASTER]))
    weights = {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(30)}

    async def one(i: int) -> int:
        account, _ = await accounts.register(500_000 + i, language="en")
        if live:
            key, secret = "K" * 48 + f"{i:016d}", "S" * 48 + f"{i:016d}"
            exchange.add_account(key, secret, {"USDT": "1000"})
            await accounts.store_credentials(
                account.user_id,
                exchange_id="binance",
                api_key=key,
                secret=secret,
                passphrase=None,
                permissions={},
                ip_restricted=False,
            )
        await accounts.set_strategy(account.user_id, Strategy(weights=weights))
        await accounts.set_dry_run(account.user_id, not live)
        await accounts.set_schedule(account.user_id, running=running)
        return account.user_id

    ids: list[int] = []
    for start in range(first, first + count, 16):  # set-up only: 16 at a time
        ids += await asyncio.gather(*(one(i) for i in range(start, min(start + 16, first + count))))
    await engine.dispose()
    return ids


def _settings(exchange: FakeBinance, caps: FakeMarketCaps) -> Settings:
    return Settings(
        database_url=PG,
        queue_url=REDIS,
        encryption_keys=MASTER,
        binance_api_url=exchange.url,
        coingecko_api_url=caps.coingecko_url,
        coinmarketcap_api_url=caps.cmc_url,
        exchange_rate_limit=False,
        max_concurrent_runs=8,
        _env_file=None,  # type: ignore[call-arg]
    )


async def _workers(exchange: FakeBinance, caps: FakeMarketCaps, log: Path) -> list[Any]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "DATABASE_URL": PG,
        "QUEUE_URL": REDIS,
        "ENCRYPTION_KEYS": MASTER,
        "BINANCE_API_URL": exchange.url,
        "COINGECKO_API_URL": caps.coingecko_url,
        "COINMARKETCAP_API_URL": caps.cmc_url,
        "EXCHANGE_RATE_LIMIT": "false",
        "LOG_LEVEL": "WARNING",
        "MAX_CONCURRENT_RUNS": "8",
    }
    processes = []
    for n in range(WORKERS):
        with (log / f"worker{n}.log").open("ab") as stderr:
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "worker", env=env, cwd=ROOT, stderr=stderr
                )
            )
    await asyncio.sleep(4)  # imports and start-up
    return processes


async def _open(sessions: Any) -> int:
    async with sessions() as session:
        count = await session.scalar(
            select(func.count()).select_from(QueuedRun).where(QueuedRun.done_at.is_(None))
        )
    return int(count or 0)


async def _drain(sessions: Any) -> None:
    while await _open(sessions):  # noqa: ASYNC110 - the database is what we wait on
        await asyncio.sleep(0.2)


async def _latencies(sessions: Any, slot: str) -> list[float]:
    """Enqueue to done, in ms, of deliveries that run nothing (automation off): the queue's
    own latency, apart from what a run costs."""
    async with sessions() as session:
        rows = await session.execute(
            select(QueuedRun.enqueued_at, QueuedRun.done_at).where(QueuedRun.slot == slot)
        )
        return sorted((done - queued).total_seconds() * 1000 for queued, done in rows.all())


def _pct(values: list[float], q: float) -> float:
    return round(values[min(len(values) - 1, int(q * len(values)))], 1) if values else 0.0


async def _wave(queue: Dispatcher, sessions: Any, users: list[int], slot: str) -> dict[str, Any]:
    t0 = time.monotonic()
    sent = await asyncio.gather(*(queue.enqueue(u, RunTrigger.AUTO, slot) for u in users))
    enqueue = time.monotonic() - t0
    assert all(sent)
    await _drain(sessions)
    total = time.monotonic() - t0
    return {
        "runs": len(users),
        "enqueue_s": round(enqueue, 2),
        "wave_s": round(total, 1),
        "runs_per_s": round(len(users) / total, 1),
    }


async def _steady(queue: Dispatcher, sessions: Any, users: list[int], slot: str) -> dict[str, Any]:
    """RATE deliveries a second for STEADY_SECONDS, each enqueued on its own (as jobs fire),
    of users whose automation is off: the worker takes each, finds nothing to run, closes it."""
    count = min(len(users), int(RATE * STEADY_SECONDS))
    t0 = time.monotonic()
    tasks = []
    for i, user_id in enumerate(users[:count]):
        delay = t0 + i / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(queue.enqueue(user_id, RunTrigger.AUTO, slot)))
    await asyncio.gather(*tasks)
    await _drain(sessions)
    latencies = await _latencies(sessions, slot)
    return {
        "runs": count,
        "rate_per_s": RATE,
        "p50_ms": _pct(latencies, 0.50),
        "p99_ms": _pct(latencies, 0.99),
        "max_ms": round(latencies[-1], 1) if latencies else 0.0,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else 0.0,
    }


async def _embedded(
    exchange: FakeBinance, caps: FakeMarketCaps, users: list[int]
) -> dict[str, Any]:
    """The same runs in one process, as `make run` does them: at most MAX_CONCURRENT_RUNS at
    once, each through the same RunHandler."""
    settings = _settings(exchange, caps).model_copy(
        update={"queue_url": None, "max_concurrent_runs": 32}  # the embedded default
    )
    services = await Services.create(settings)
    t0 = time.monotonic()
    try:
        await asyncio.gather(*(services.runs.handle(u, RunTrigger.AUTO.value) for u in users))
    finally:
        await services.close()
    total = time.monotonic() - t0
    return {
        "runs": len(users),
        "wave_s": round(total, 1),
        "runs_per_s": round(len(users) / total, 1),
    }


async def main() -> None:
    await _fresh_database()
    redis = Redis.from_url(REDIS)
    await redis.flushdb()
    figures: dict[str, Any] = {"users": USERS, "live_users": LIVE_USERS, "workers": WORKERS}
    async with FakeBinance() as exchange, FakeMarketCaps() as caps:
        exchange.budgets.enforce = False
        dry = await _users(USERS, exchange, live=False, first=0)
        live = await _users(LIVE_USERS, exchange, live=True, first=USERS)
        steady_count = int(RATE * STEADY_SECONDS)
        idle = await _users(
            steady_count, exchange, live=False, first=USERS + LIVE_USERS, running=False
        )
        engine = make_engine(PG)
        sessions = make_session_factory(engine)
        queue = Dispatcher(_settings(exchange, caps), sessions)
        with tempfile.TemporaryDirectory() as folder:
            processes = await _workers(exchange, caps, Path(folder))
            try:
                figures["dry_wave"] = await _wave(queue, sessions, dry, "s20261201T090000")
                figures["live_wave"] = await _wave(queue, sessions, live, "s20261201T090000")
                figures["steady"] = await _steady(queue, sessions, idle, "s20261201T100000")
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    await process.wait()
                await queue.close()
        figures["orders_placed"] = len(exchange.order_book)
        # Embedded, same machine, the same kind of runs: as many fresh dry-run users.
        fresh = await _users(USERS, exchange, live=False, first=USERS + LIVE_USERS + steady_count)
        figures["embedded_dry_wave"] = await _embedded(exchange, caps, fresh)
        await engine.dispose()
    await redis.flushdb()
    await redis.aclose()
    figures["when"] = utcnow().isoformat(timespec="seconds")
    for key in ("dry_wave", "live_wave", "steady", "embedded_dry_wave"):
        table(key, figures[key])
    name = os.environ.get("SCALEOUT_NAME", "scaleout")  # a partial run keeps the full one
    print(save(name, figures, "python -m bench.scaleout"))


if __name__ == "__main__":
    asyncio.run(main())

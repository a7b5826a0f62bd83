"""Distributed mode against the real Redis and PostgreSQL of this machine (and CI's).

Without Redis (or TEST_DATABASE_URL) these tests skip and say why, except under CI=true,
where an unreachable Redis is a failure: `.ci/run` starts one."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.services.accounts import AccountService, Strategy
from bot.services.credentials import CredentialVault
from tests.conftest import postgres_url, reset_postgres
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
MASTER = CredentialVault.generate_master_key()
ROOT = Path(__file__).resolve().parents[2]


async def _redis_or_skip() -> str:
    client = Redis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as error:
        message = f"Redis at {REDIS_URL} is not answering ({type(error).__name__})"
        if os.environ.get("CI") == "true":
            pytest.fail(message + ": CI must run the distributed tests (.ci/run starts Redis)")
        pytest.skip(message + ": distributed tests skipped")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    url = await _redis_or_skip()
    client = Redis.from_url(url)
    await client.flushdb()
    yield url
    await client.flushdb()
    await client.aclose()


@pytest.fixture
async def pg_url() -> str:
    url = postgres_url()
    await reset_postgres(url)
    await upgrade(url)
    return url


@pytest.fixture
async def fakes() -> AsyncIterator[tuple[FakeBinance, FakeMarketCaps]]:
    async with FakeBinance() as exchange, FakeMarketCaps() as caps:
        exchange.budgets.enforce = False  # thousands of runs in seconds: not the subject here
        yield exchange, caps


def env_for(
    pg: str, redis: str, exchange: FakeBinance, caps: FakeMarketCaps, **extra: str
) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(ROOT)),
        "DATABASE_URL": pg,
        "QUEUE_URL": redis,
        "ENCRYPTION_KEYS": MASTER,
        "BINANCE_API_URL": exchange.url,
        "COINGECKO_API_URL": caps.coingecko_url,
        "COINMARKETCAP_API_URL": caps.cmc_url,
        "EXCHANGE_RATE_LIMIT": "false",
        "EXCHANGE_TIMEOUT_SECONDS": "5",
        "MIN_INTERVAL_SECONDS": "1",
        "LOG_LEVEL": "INFO",
        "RECONCILE_INTERVAL_SECONDS": "2",
        # PostgreSQL here allows 100 connections for everyone: each run holds one for its lock.
        "MAX_CONCURRENT_RUNS": "8",
    }
    env.update(extra)
    return env


def settings_for(
    pg: str, redis: str, exchange: FakeBinance, caps: FakeMarketCaps, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": pg,
        "queue_url": redis,
        "encryption_keys": MASTER,
        "binance_api_url": exchange.url,
        "coingecko_api_url": caps.coingecko_url,
        "coinmarketcap_api_url": caps.cmc_url,
        "exchange_rate_limit": False,
        "min_interval_seconds": 1,
        "_env_file": None,
    }
    values.update(extra)
    return Settings(**values)


@dataclass
class Workers:
    """`rebalance-bot worker` processes, as production runs them."""

    env: dict[str, str]
    folder: Path
    processes: list[asyncio.subprocess.Process] = field(default_factory=list)

    async def start(self, name: str, **extra: str) -> asyncio.subprocess.Process:
        env = dict(self.env, **extra)
        log = (self.folder / f"{name}.log").open("ab")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "worker",
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
        log.close()
        self.processes.append(process)
        return process

    def log(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    async def stop_all(self) -> None:
        for process in self.processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                await asyncio.wait_for(process.wait(), timeout=60)
            except TimeoutError:
                process.kill()
                await process.wait()


@pytest.fixture
def workers_factory(tmp_path: Path) -> Iterator[list[Workers]]:
    made: list[Workers] = []
    yield made
    for workers in made:
        for process in workers.processes:
            if process.returncode is None:
                process.kill()


async def add_users(
    pg: str,
    count: int,
    *,
    exchange: FakeBinance | None = None,
    live: bool = False,
    start: dict[str, str] | None = None,
    weights: dict[str, int] | None = None,
) -> list[int]:
    """Users ready to run: targets set, automation on; live ones with keys at the fake."""
    engine = make_engine(pg)
    accounts = AccountService(make_session_factory(engine), CredentialVault([MASTER]))
    from decimal import Decimal

    chosen = {a: Decimal(w) for a, w in (weights or {"BTC": 50, "ETH": 50}).items()}

    async def one(i: int) -> int:
        account, _ = await accounts.register(700_000 + i, language="uk" if i % 2 else "en")
        if live and exchange is not None:
            key, secret = "K" * 48 + f"{i:016d}", "S" * 48 + f"{i:016d}"
            exchange.add_account(key, secret, start or {"USDT": "1000"})
            await accounts.store_credentials(
                account.user_id,
                exchange_id="binance",
                api_key=key,
                secret=secret,
                passphrase=None,
                permissions={},
                ip_restricted=False,
            )
        await accounts.set_strategy(account.user_id, Strategy(weights=chosen))
        await accounts.set_dry_run(account.user_id, not live)
        await accounts.set_schedule(account.user_id, running=True)
        return int(account.user_id)

    ids: list[int] = []
    try:
        for first in range(0, count, 8):  # set-up only: a few at a time
            ids += await asyncio.gather(*(one(i) for i in range(first, min(first + 8, count))))
    finally:
        await engine.dispose()
    return ids

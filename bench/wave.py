"""A wave of users due at once against the fake exchange: requests, weight and wall time,
against the seed's way (a client per user, each loading markets and prices itself)."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from decimal import Decimal
from typing import Any

from bench.common import database_url, save, table
from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import RunTrigger
from bot.services.accounts import AccountService, Strategy
from bot.services.credentials import CredentialVault
from bot.services.exchange import ExchangeHubs
from bot.services.marketcap import MarketCapService
from bot.services.rebalancer import Rebalancer
from tests.fakes.binance import FakeBinance

USERS = int(os.environ.get("WAVE_USERS", "1000"))
CONCURRENCY = 100
TARGETS = {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(20), "USDT": Decimal(10)}


def _key(i: int) -> tuple[str, str]:
    return f"K{i:063d}", f"S{i:063d}"


async def _setup(
    url: str, fake: FakeBinance, dry_run: bool
) -> tuple[Any, Rebalancer, list[int], Any]:
    settings = Settings(
        binance_api_url=fake.url,
        exchange_rate_limit=False,
        encryption_keys=CredentialVault.generate_master_key(),
        database_url=url,
        price_ttl_seconds=30,
        _env_file=None,
    )  # type: ignore[call-arg]
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    vault = CredentialVault(settings.master_keys())
    accounts = AccountService(sessions, vault)
    user_ids = []
    for i in range(USERS):
        key, secret = _key(i)
        fake.add_account(key, secret, {"USDT": "1000", "BTC": "0.01"})
        account, _ = await accounts.register(10_000 + i, language="en")
        await accounts.store_credentials(
            account.user_id,
            exchange_id="binance",
            api_key=key,
            secret=secret,
            passphrase=None,
            permissions={},
            ip_restricted=False,
        )
        await accounts.set_strategy(account.user_id, Strategy(weights=TARGETS))
        await accounts.set_dry_run(account.user_id, dry_run)
        user_ids.append(account.user_id)
    hubs = ExchangeHubs(settings)
    rebalancer = Rebalancer(sessions, accounts, hubs, MarketCapService(settings))
    return engine, rebalancer, user_ids, hubs


async def our_wave(dry_run: bool, *, budget: int | None = None) -> dict[str, Any]:
    """One wave; `budget` overrides the shared weight limiter (None: Binance's 6,000/min)."""
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBinance() as fake:
            engine, rebalancer, user_ids, hubs = await _setup(
                await database_url(folder), fake, dry_run
            )
            fake.reset_records()
            if budget is not None:
                hubs.get("binance").limiter.budget = budget
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(user_id: int) -> str:
                async with gate:
                    return (await rebalancer.run(user_id, RunTrigger.AUTO)).status

            started = time.perf_counter()
            statuses = await asyncio.gather(*(one(u) for u in user_ids))
            wall = time.perf_counter() - started
            figures = _counts(fake, wall)
            figures["statuses"] = {s: statuses.count(s) for s in set(statuses)}
            await rebalancer.close()
            await hubs.close()
            await engine.dispose()
            return figures


async def seed_wave() -> dict[str, Any]:
    """The seed's way: every user's own client loads markets and prices, then reads the account."""
    async with FakeBinance() as fake:
        settings = Settings(binance_api_url=fake.url, exchange_rate_limit=False, _env_file=None)  # type: ignore[call-arg]
        hubs = ExchangeHubs(settings)
        gateway = hubs.get("binance").gateway
        for i in range(USERS):
            fake.add_account(*_key(i), {"USDT": "1000", "BTC": "0.01"})
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            key, secret = _key(i)
            async with gate:
                client = gateway.client({"apiKey": key, "secret": secret})
                try:
                    await client.load_markets()
                    await client.fetch_last_prices()
                    await client.fetch_balance()
                finally:
                    await client.close()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(USERS)))
        figures = _counts(fake, time.perf_counter() - started)
        await hubs.close()
        return figures


def _counts(fake: FakeBinance, wall: float) -> dict[str, Any]:
    orders = fake.count("/api/v3/order", "POST")
    return {
        "users": USERS,
        "wall_seconds": round(wall, 2),
        "requests": len(fake.requests),
        "weight": fake.total_weight(),
        "exchangeInfo": fake.count("/api/v3/exchangeInfo"),
        "ticker_price": fake.count("/api/v3/ticker/price"),
        "account": fake.count("/api/v3/account"),
        "orders": orders,
        "read_requests_per_user": round((len(fake.requests) - orders) / USERS, 3),
        "weight_per_user": round(fake.total_weight() / USERS, 2),
    }


async def main() -> None:
    unlimited = 10**9
    dry = await our_wave(dry_run=True, budget=unlimited)
    live = await our_wave(dry_run=False, budget=unlimited)
    budgeted = await our_wave(dry_run=True) if os.environ.get("WAVE_BUDGETED") else None
    seed = await seed_wave()
    ratio_requests = round(seed["requests"] / dry["requests"], 1)
    ratio_weight = round(seed["weight"] / dry["weight"], 1)
    table(f"Wave of {USERS} users, dry-run (limiter budget lifted)", dry)
    if budgeted is not None:
        table(f"Wave of {USERS} users, dry-run, Binance budget 6,000/min enforced", budgeted)
    table(f"Wave of {USERS} users, live (limiter budget lifted)", live)
    table(f"Seed's way, {USERS} users (reads only)", seed)
    table("Seed / ours (dry-run reads)", {"requests": ratio_requests, "weight": ratio_weight})
    save(
        "wave",
        {
            "dry_run": dry,
            "live": live,
            "seed": seed,
            "dry_run_budgeted": budgeted,
            "ratio_requests": ratio_requests,
            "ratio_weight": ratio_weight,
        },
        "WAVE_USERS=1000 .venv/bin/python -m bench.wave",
    )


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Waves of users due at once against the fake exchange keeping Binance's budgets: what each
run costs on each budget, which budget binds, and how many hourly rebalances one IP carries;
against the seed's way (a client per user loading markets and prices and reading the account
on /api).

Binance counts per minute (SAPI, /api weight) or per five minutes (raw requests). Waiting out
10,000 users' worth of minutes in real time would take most of an hour, so the windows of both
the fake and the bot's limiter are shortened by WAVE_TIME_SCALE (default 20: a "minute" lasts
3 s) with the limits divided alike: the limiter waits and the fake refuses exactly as they
would, only faster. Per-run costs are counted exactly; the per-IP figures are derived from
them and Binance's real limits.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.common import database_url, save, table
from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.migrate import upgrade
from bot.db.models import RunTrigger
from bot.db.repositories import Repositories
from bot.services.accounts import AccountService
from bot.services.budgets import HEADROOM
from bot.services.credentials import API_KEY, API_SECRET, CredentialVault
from bot.services.exchange import ExchangeHubs
from bot.services.rebalancer import Rebalancer
from tests.fakes.binance import WEIGHTS, FakeBinance
from tests.fakes.binance_budgets import Counter

USERS = int(os.environ.get("WAVE_USERS", "10000"))
SEED_USERS = min(USERS, int(os.environ.get("WAVE_SEED_USERS", "1000")))
SCALE = int(os.environ.get("WAVE_TIME_SCALE", "20"))  # must divide 60
CONCURRENCY = 100
PRICE_TTL = 10.0
TARGETS = {"BTC": "40", "ETH": "30", "BNB": "20", "USDT": "10"}
OFF_TARGET = {"USDT": "1000", "BTC": "0.01"}  # trades three orders back to TARGETS
ON_TARGET = {"BTC": "0.04", "ETH": "0.6", "BNB": "2", "USDT": "600"}  # exactly TARGETS
# Binance's real budgets per IP (and per account for orders), as the derived figures use them.
API_PER_MINUTE = 6000
SAPI_PER_MINUTE = 12000
RAW_PER_MINUTE = 61000 / 5
USER_ASSET = "/sapi/v3/asset/getUserAsset"


def _key(i: int) -> tuple[str, str]:
    return f"K{i:063d}", f"S{i:063d}"


def _scale(fake: FakeBinance) -> None:
    """Both sides' windows shortened SCALE times, the limits alike (see the module docstring)."""
    window = 60 // SCALE
    budgets = fake.budgets
    budgets.request_weight, budgets.api = API_PER_MINUTE // SCALE, Counter(window)
    budgets.sapi_weight, budgets.sapi_seconds = SAPI_PER_MINUTE // SCALE, float(window)
    budgets.raw_requests, budgets.raw = 61000 // SCALE, Counter(300 // SCALE)
    fake.rate_limits = [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "SECOND",
            "intervalNum": window,
            "limit": budgets.request_weight,
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
        {
            "rateLimitType": "RAW_REQUESTS",
            "interval": "SECOND",
            "intervalNum": 300 // SCALE,
            "limit": budgets.raw_requests,
        },
    ]


async def _users(
    url: str, fake: FakeBinance, *, dry_run: bool, trading: float
) -> tuple[Any, Rebalancer, list[int], ExchangeHubs]:
    """USERS users with keys and targets, written in one transaction; `trading` of them off
    target (they trade), the rest on it (they only read)."""
    settings = Settings(
        binance_api_url=fake.url,
        exchange_rate_limit=False,
        encryption_keys=CredentialVault.generate_master_key(),
        database_url=url,
        price_ttl_seconds=PRICE_TTL,
        _env_file=None,
    )  # type: ignore[call-arg]
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    vault = CredentialVault(settings.master_keys())
    user_ids = []
    every = round(1 / trading) if trading else 0
    async with sessions() as session, session.begin():
        repos = Repositories(session)
        for i in range(USERS):
            key, secret = _key(i)
            off = bool(every) and i % every == 0
            fake.add_account(key, secret, OFF_TARGET if off else ON_TARGET)
            user = await repos.users.create(10_000 + i, language="en")
            profile, trader = await repos.profiles.get(user.id), await repos.sessions.get(user.id)
            target = await repos.targets.get(user.id)
            assert profile is not None
            assert trader is not None
            assert target is not None
            profile.api_key_encrypted = vault.encrypt(user.id, key, API_KEY)
            profile.api_secret_encrypted = vault.encrypt(user.id, secret, API_SECRET)
            profile.key_hint = key[-4:]
            trader.dry_run = dry_run
            target.weights = dict(TARGETS)
            user_ids.append(user.id)
    hubs = ExchangeHubs(settings)
    rebalancer = Rebalancer(sessions, AccountService(sessions, vault), hubs, None)
    return engine, rebalancer, user_ids, hubs


@dataclass
class Scenario:
    name: str
    dry_run: bool
    trading: float  # share of users off target


async def run_wave(scenario: Scenario) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        async with FakeBinance() as fake:
            _scale(fake)
            engine, rebalancer, user_ids, hubs = await _users(
                await database_url(folder),
                fake,
                dry_run=scenario.dry_run,
                trading=scenario.trading,
            )
            hubs.get("binance").budgets.sapi_limit = SAPI_PER_MINUTE // SCALE
            hubs.get("binance").budgets.sapi_seconds = float(60 // SCALE)
            gate = asyncio.Semaphore(CONCURRENCY)

            async def one(user_id: int) -> str:
                async with gate:
                    return (await rebalancer.run(user_id, RunTrigger.AUTO)).status

            fake.reset_records()
            started = time.perf_counter()
            statuses = await asyncio.gather(*(one(u) for u in user_ids))
            wall = time.perf_counter() - started
            figures = _figures(fake, wall, len(user_ids))
            figures["statuses"] = {s: statuses.count(s) for s in sorted(set(statuses))}
            await rebalancer.close()
            await hubs.close()
            await engine.dispose()
            return figures


def _figures(fake: FakeBinance, wall: float, runs: int) -> dict[str, Any]:
    api = sum(r.weight for r in fake.requests if r.path.startswith("/api/"))
    sapi = sum(r.weight for r in fake.requests if r.path == USER_ASSET)
    public = sum(
        r.weight
        for r in fake.requests
        if r.path in ("/api/v3/exchangeInfo", "/api/v3/ticker/price", "/api/v3/time")
    )
    orders = fake.count("/api/v3/order", "POST")
    per_run = {
        "api_weight": round(api / runs, 3),
        "api_weight_without_shared_data": round((api - public) / runs, 3),
        "sapi_user_asset_weight": round(sapi / runs, 3),
        "raw_requests": round(len(fake.requests) / runs, 3),
        "orders": round(orders / runs, 3),
        "account_reads": round(fake.count("/api/v3/account") / runs, 3),
    }
    # Per IP, at 80 % of Binance's real limits: the shared data (prices every TTL, exchangeInfo
    # hourly) is a fixed cost per minute on /api; everything else is per run.
    shared_per_minute = WEIGHTS["/api/v3/ticker/price"] * 60 / PRICE_TTL + (
        WEIGHTS["/api/v3/exchangeInfo"] / 60
    )
    capacity = {
        "api": (float(API_PER_MINUTE * HEADROOM) - shared_per_minute)
        / max(per_run["api_weight_without_shared_data"], 1e-9),
        "sapi_user_asset": float(SAPI_PER_MINUTE * HEADROOM)
        / max(per_run["sapi_user_asset_weight"], 1e-9),
        "raw": float(Decimal(str(RAW_PER_MINUTE)) * HEADROOM) / max(per_run["raw_requests"], 1e-9),
    }
    binding = min(capacity, key=lambda name: capacity[name])
    return {
        "runs": runs,
        "wall_seconds": round(wall, 1),
        "requests": len(fake.requests),
        "refusals_429_418": len(fake.budgets.refusals),
        "exchangeInfo": fake.count("/api/v3/exchangeInfo"),
        "ticker_price": fake.count("/api/v3/ticker/price"),
        "per_run": per_run,
        "binding_budget": binding,
        "runs_per_minute_per_ip": round(capacity[binding]),
        "hourly_rebalances_per_ip": round(capacity[binding] * 60),
    }


async def seed_wave() -> dict[str, Any]:
    """The seed's way: every user's own client loads markets and prices, then reads the
    account on /api. Its cost per run does not depend on the number of users, so it is
    measured on SEED_USERS with the budgets lifted (waiting them out would prove nothing)."""
    async with FakeBinance() as fake:
        fake.budgets.enforce = False
        settings = Settings(binance_api_url=fake.url, exchange_rate_limit=False, _env_file=None)  # type: ignore[call-arg]
        hubs = ExchangeHubs(settings)
        hub = hubs.get("binance")
        hub.budgets.lifted = True
        for i in range(SEED_USERS):
            fake.add_account(*_key(i), OFF_TARGET)
        gate = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> None:
            key, secret = _key(i)
            async with gate:
                client = hub.gateway.client({"apiKey": key, "secret": secret})
                try:
                    await client.load_markets()
                    await client.fetch_last_prices()
                    await client.fetch_balance()
                finally:
                    await client.close()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(SEED_USERS)))
        wall = time.perf_counter() - started
        api = sum(r.weight for r in fake.requests if r.path.startswith("/api/"))
        await hubs.close()
        return {
            "runs": SEED_USERS,
            "wall_seconds": round(wall, 1),
            "per_run": {
                "api_weight": round(api / SEED_USERS, 3),
                "raw_requests": round(len(fake.requests) / SEED_USERS, 3),
            },
            "hourly_rebalances_per_ip": round(
                float(API_PER_MINUTE * HEADROOM) / (api / SEED_USERS) * 60
            ),
        }


SCENARIOS = (
    Scenario("dry_run", dry_run=True, trading=1.0),
    Scenario("live", dry_run=False, trading=1.0),
    Scenario("realistic_hour", dry_run=False, trading=0.1),
)


async def main() -> None:
    results: dict[str, Any] = {}
    for scenario in SCENARIOS:
        results[scenario.name] = await run_wave(scenario)
        table(
            f"{USERS} users, {scenario.name} (budgets enforced, time x{SCALE})",
            _flat(results[scenario.name]),
        )
    seed = await seed_wave()
    table(f"Seed's way, {SEED_USERS} users", _flat(seed))
    ours = results["realistic_hour"]["per_run"]["api_weight"]
    ratio = round(seed["per_run"]["api_weight"] / max(ours, 1e-9), 1)
    table("Seed / ours: /api weight per run over the realistic hour", {"ratio": ratio})
    save(
        "wave",
        {
            **results,
            "seed": seed,
            "ratio_api_weight": ratio,
            "hourly_rebalances_per_ip": {
                name: figures["hourly_rebalances_per_ip"] for name, figures in results.items()
            },
            "time_scale": SCALE,
        },
        f"WAVE_USERS={USERS} WAVE_TIME_SCALE={SCALE} .venv/bin/python -m bench.wave",
    )


def _flat(figures: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    flat.update({f"per run: {k}": v for k, v in figures.get("per_run", {}).items()})
    if "statuses" in figures:
        flat["statuses"] = ", ".join(f"{k} {v}" for k, v in figures["statuses"].items())
    return flat


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

"""Engine fixtures: the fake exchange, real ccxt, a migrated database, and services over them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.services.accounts import AccountService, Strategy
from bot.services.credentials import CredentialVault
from bot.services.exchange import ExchangeHubs
from bot.services.marketcap import MarketCapService
from bot.services.rebalancer import Rebalancer
from tests.fakes.binance import FakeBinance

MASTER = CredentialVault.generate_master_key()


@dataclass
class Engine:
    fake: FakeBinance
    settings: Settings
    accounts: AccountService
    hubs: ExchangeHubs
    rebalancer: Rebalancer

    async def user(
        self,
        telegram_id: int,
        balances: dict[str, Any],
        targets: dict[str, str] | None = None,
        *,
        dry_run: bool = False,
        threshold: str = "5",
        **permissions: Any,
    ) -> tuple[int, str]:
        """A registered user with keys on the fake exchange and targets; returns (id, api key)."""
        api_key = f"key{telegram_id:08d}".ljust(64, "K")
        secret = f"sec{telegram_id:08d}".ljust(64, "S")
        self.fake.add_account(api_key, secret, balances, **permissions)
        account, _ = await self.accounts.register(telegram_id, language="en")
        await self.accounts.store_credentials(
            account.user_id,
            exchange_id="binance",
            api_key=api_key,
            secret=secret,
            passphrase=None,
            permissions={},
            ip_restricted=False,
        )
        weights = {
            a: Decimal(w)
            for a, w in (targets or {"BTC": "40", "ETH": "30", "BNB": "20", "USDT": "10"}).items()
        }
        await self.accounts.set_strategy(account.user_id, Strategy(kind="fixed", weights=weights))
        await self.accounts.set_threshold(account.user_id, Decimal(threshold))
        await self.accounts.set_dry_run(account.user_id, dry_run)
        return account.user_id, api_key

    async def many_users(
        self,
        count: int,
        balances: dict[str, Any],
        targets: dict[str, str],
        *,
        first_telegram_id: int = 10_000,
    ) -> list[tuple[int, str]]:
        """`count` live users with keys and targets, written in one transaction (fast)."""
        from bot.db.repositories import Repositories
        from bot.services.credentials import API_KEY, API_SECRET

        vault = CredentialVault([MASTER])
        made = []
        async with self.accounts._sessions() as session, session.begin():
            repos = Repositories(session)
            for n in range(count):
                telegram_id = first_telegram_id + n
                api_key = f"key{telegram_id:08d}".ljust(64, "K")
                secret = f"sec{telegram_id:08d}".ljust(64, "S")
                self.fake.add_account(api_key, secret, balances)
                user = await repos.users.create(telegram_id, language="en")
                profile = await repos.profiles.get(user.id)
                trader = await repos.sessions.get(user.id)
                target = await repos.targets.get(user.id)
                assert profile is not None
                assert trader is not None
                assert target is not None
                profile.api_key_encrypted = vault.encrypt(user.id, api_key, API_KEY)
                profile.api_secret_encrypted = vault.encrypt(user.id, secret, API_SECRET)
                profile.key_hint = api_key[-4:]
                trader.dry_run = False
                target.weights = dict(targets)
                made.append((user.id, api_key))
        return made


def spend_every_budget(budgets: Any) -> None:
    """This minute's /api weight and the balance read's SAPI weight are spent: the next
    request of a run waits up to a minute."""
    for method in ("fetch_last_prices", "sapiv3_post_asset_getuserasset"):
        for window, _weight in budgets.windows(method, None):
            window.observe(window.cap)


def engine_settings(url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "binance_api_url": url,
        "exchange_rate_limit": False,
        "exchange_timeout_seconds": 1.0,
        "encryption_keys": MASTER,
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def fake_exchange() -> AsyncIterator[FakeBinance]:
    async with FakeBinance(timeout_sleep=1.5) as fake:
        yield fake


@pytest.fixture
async def engine_services(
    fake_exchange: FakeBinance, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[Engine]:
    settings = engine_settings(fake_exchange.url)
    vault = CredentialVault([MASTER])
    accounts = AccountService(session_factory, vault)
    hubs = ExchangeHubs(settings)
    marketcap = MarketCapService(settings)
    rebalancer = Rebalancer(session_factory, accounts, hubs, marketcap)
    yield Engine(fake_exchange, settings, accounts, hubs, rebalancer)
    await rebalancer.close()
    await hubs.close()
    await marketcap.close()

"""All long-lived services of one process, created at start-up and closed at shutdown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.services.accounts import AccountService
from bot.services.credentials import CredentialVault
from bot.services.erasure import Erasure
from bot.services.exchange import ExchangeHubs
from bot.services.history import HistoryService
from bot.services.home import HomeService
from bot.services.keys import KeyService
from bot.services.kill_switch import KillSwitch
from bot.services.marketcap import MarketCapService
from bot.services.min_trade import MinTradeService
from bot.services.ratelimit import AttemptLimiter
from bot.services.rebalancer import Rebalancer
from bot.services.run_handler import RunHandler
from bot.services.run_lock import RunLocks

if TYPE_CHECKING:
    from bot.distributed.dispatch import Dispatcher


@dataclass
class Services:
    settings: Settings
    engine: AsyncEngine
    session_factory: async_sessionmaker[AsyncSession]
    vault: CredentialVault
    accounts: AccountService
    hubs: ExchangeHubs
    marketcap: MarketCapService
    rebalancer: Rebalancer
    history: HistoryService
    home: HomeService
    keys: KeyService
    erasure: Erasure
    kill_switch: KillSwitch
    min_trade: MinTradeService
    runs: RunHandler
    # Distributed mode: the queue runs go to (None: runs happen in this process).
    queue: Dispatcher | None = None

    @classmethod
    async def create(cls, settings: Settings, **overrides: Any) -> Services:
        engine = make_engine(settings.database_url)
        session_factory = make_session_factory(engine)
        vault = CredentialVault(settings.master_keys())
        accounts = AccountService(session_factory, vault)
        hubs = ExchangeHubs(settings)
        marketcap = MarketCapService(settings)
        rebalancer = Rebalancer(
            session_factory,
            accounts,
            hubs,
            marketcap,
            locks=RunLocks(session_factory, max_concurrent=settings.max_concurrent_runs),
            unknown_grace=timedelta(seconds=settings.unknown_order_grace_seconds),
        )
        history = HistoryService(session_factory)
        home = HomeService(session_factory, rebalancer)
        keys = KeyService(
            accounts, hubs, AttemptLimiter(limit=settings.key_checks_per_hour, window=3600.0)
        )
        erasure = Erasure(accounts, hubs, engine)
        kill_switch = KillSwitch(session_factory)
        queue = None
        if settings.distributed:
            from bot.distributed.dispatch import Dispatcher

            queue = Dispatcher(settings, session_factory)
            rebalancer.reconciler.leave_queued_runs = True
        services = cls(
            settings=settings,
            engine=engine,
            session_factory=session_factory,
            vault=vault,
            accounts=accounts,
            hubs=hubs,
            marketcap=marketcap,
            rebalancer=rebalancer,
            history=history,
            home=home,
            keys=keys,
            erasure=erasure,
            kill_switch=kill_switch,
            min_trade=MinTradeService(accounts, hubs),
            runs=RunHandler(accounts, rebalancer, settings),
            queue=queue,
        )
        for name, value in overrides.items():
            setattr(services, name, value)
        return services

    async def close(self) -> None:
        if self.queue is not None:
            await self.queue.close()
        await self.rebalancer.close()
        await self.hubs.close()
        await self.marketcap.close()
        await self.engine.dispose()

"""The engine on OKX and Bybit: the same guarantees as on Binance (tests/services/
test_order_truth.py), against each exchange's loopback fake. A live run reaches the targets;
an order whose answer is lost stays unknown, is never resent and is corrected once it shows;
a crash mid-run is reconciled and nothing is sent twice; a clock far off the exchange's is
synced before it refuses anything."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.valuation import value_portfolio
from bot.services.accounts import AccountService, Strategy
from bot.services.credentials import CredentialVault
from bot.services.exchange import ExchangeHubs
from bot.services.marketcap import MarketCapService
from bot.services.rebalancer import Rebalancer
from tests.fakes.bybit import FakeBybit
from tests.fakes.okx import FakeOkx
from tests.fakes.spot_venue import FakeVenue
from tests.services.conftest import MASTER, engine_settings

TARGETS = {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(20), "USDT": Decimal(10)}
PHRASE = "Tr4de-only!"


class VenueEngine:
    def __init__(
        self,
        exchange: str,
        fake: FakeVenue,
        accounts: AccountService,
        hubs: ExchangeHubs,
        rebalancer: Rebalancer,
    ) -> None:
        self.exchange, self.fake, self.accounts = exchange, fake, accounts
        self.hubs, self.rebalancer = hubs, rebalancer

    async def user(self, telegram_id: int, balances: dict[str, Any]) -> tuple[int, str]:
        api_key, secret = f"vk{telegram_id:016d}", f"VS{telegram_id:030d}"
        okx = self.exchange == "okx"
        self.fake.add_account(api_key, secret, balances, **({"passphrase": PHRASE} if okx else {}))
        account, _ = await self.accounts.register(telegram_id, language="en")
        await self.accounts.store_credentials(
            account.user_id,
            exchange_id=self.exchange,
            api_key=api_key,
            secret=secret,
            passphrase=PHRASE if okx else None,
            permissions={},
            ip_restricted=False,
        )
        strategy = Strategy(kind="fixed", weights=dict(TARGETS))
        await self.accounts.set_strategy(account.user_id, strategy)
        await self.accounts.set_threshold(account.user_id, Decimal(5))
        await self.accounts.set_dry_run(account.user_id, False)
        return account.user_id, api_key

    async def weights(self, api_key: str) -> dict[str, Decimal]:
        hub = self.hubs.get(self.exchange)
        prices = {f"{b}/{q}": p for (b, q), p in self.fake.prices.items()}
        balances = self.fake.balances(api_key)
        return value_portfolio(balances, prices, await hub.markets(), "USDT").weights()

    async def later(self, user_id: int, minutes: float) -> None:
        async with self.rebalancer.locks.hold(user_id):
            await self.rebalancer.reconciler.reconcile_user(
                user_id, now=utcnow() + timedelta(minutes=minutes), everything=True
            )


@pytest.fixture(params=["okx", "bybit"])
async def engine(
    request: pytest.FixtureRequest, session_factory: async_sessionmaker[AsyncSession]
) -> AsyncIterator[VenueEngine]:
    exchange: str = request.param
    fake: FakeVenue = (
        FakeOkx(timeout_sleep=1.5) if exchange == "okx" else FakeBybit(timeout_sleep=1.5)
    )
    async with fake:
        settings = engine_settings("http://127.0.0.1:1", **{f"{exchange}_api_url": fake.url})
        accounts = AccountService(session_factory, CredentialVault([MASTER]))
        hubs = ExchangeHubs(settings)
        marketcap = MarketCapService(settings)
        rebalancer = Rebalancer(session_factory, accounts, hubs, marketcap)
        yield VenueEngine(exchange, fake, accounts, hubs, rebalancer)
        await rebalancer.close()
        await hubs.close()
        await marketcap.close()


async def _orders(sessions: async_sessionmaker[AsyncSession], user_id: int, run_id: int) -> Any:
    async with sessions() as session:
        return await Repositories(session).orders.for_run(user_id, run_id)


def _within(weights: dict[str, Decimal], points: Decimal = Decimal(5)) -> bool:
    return all(abs(weights.get(a, Decimal(0)) - t) <= points for a, t in TARGETS.items())


def _no_order_twice(engine: VenueEngine, api_key: str) -> None:
    seen = [o.client_id for o in engine.fake.orders(api_key)]
    assert len(seen) == len(set(seen)), seen


async def test_a_live_run_reaches_the_targets(
    engine: VenueEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine.user(1601, {"USDT": "1000", "BTC": "0.01"})
    result = await engine.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert _within(await engine.weights(api_key))
    _no_order_twice(engine, api_key)
    booked = {o.client_id: o for o in engine.fake.orders(api_key)}
    for order in await _orders(session_factory, user_id, result.run_id or 0):
        exchange_order = booked[order.client_order_id]
        assert Decimal(order.filled) == exchange_order.filled
        fees = {c: Decimal(v) for c, v in (order.fees or {}).items()}
        assert fees == {exchange_order.fee_currency: exchange_order.fee}


async def test_a_lost_answer_stays_unknown_is_never_resent_and_is_corrected(
    engine: VenueEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine.user(1602, {"USDT": "1000", "BNB": "0.5"})
    await engine.accounts.set_strategy(
        user_id, Strategy(kind="fixed", weights={"BNB": Decimal(50), "USDT": Decimal(50)})
    )
    engine.fake.lookup_delay = 30.0  # longer than the run's own lookups
    engine.fake.inject(engine.fake.order_path, "timeout_after", method="POST")
    result = await engine.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.UNRESOLVED.value
    assert [o.status for o in result.orders] == ["unknown"]
    (booked,) = engine.fake.orders(api_key)
    await engine.rebalancer.mark_notified(user_id, result)
    await engine.later(user_id, 1)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "unknown"
    booked.visible_at = 0.0  # the exchange catches up
    await engine.later(user_id, 2)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "closed"
    assert Decimal(order.filled) == booked.filled
    assert engine.fake.order_posts(order.client_order_id) == 1


async def test_a_crash_mid_run_is_reconciled_and_nothing_resent(
    engine: VenueEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine.user(1603, {"USDT": "1000", "BTC": "0.01"})
    path = engine.fake.order_path
    engine.fake.inject(path, "latency", delay=3.0, method="POST", count=None)
    task = asyncio.create_task(engine.rebalancer.run(user_id, RunTrigger.AUTO))
    while engine.fake.count(path, "POST") < 1:  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine.fake.faults.clear()
    await asyncio.sleep(3.2)  # the server books the order it was sleeping on
    posts = engine.fake.count(path, "POST")
    assert await engine.rebalancer.reconcile() == 1
    async with session_factory() as session:
        (run,) = await Repositories(session).runs.latest(user_id)
    assert run.status == RunStatus.INTERRUPTED.value
    booked = {o.client_id for o in engine.fake.orders(api_key)}
    for minutes in (1, 3, 6, 12):
        await engine.later(user_id, minutes)
    for order in await _orders(session_factory, user_id, run.id):
        expected = "closed" if order.client_order_id in booked else "not_placed"
        assert order.status == expected, order.client_order_id
    assert engine.fake.count(path, "POST") == posts
    healed = await engine.rebalancer.run(user_id, RunTrigger.AUTO)
    assert healed.status in (RunStatus.SUCCEEDED.value, RunStatus.SKIPPED.value), healed
    assert _within(await engine.weights(api_key))
    _no_order_twice(engine, api_key)


async def test_a_clock_far_off_the_exchange_s_is_synced(engine: VenueEngine) -> None:
    user_id, api_key = await engine.user(1604, {"USDT": "1000"})
    engine.fake.clock_offset_ms = 120_000  # OKX refuses past 30 s, Bybit past recv_window
    result = await engine.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert engine.hubs.get(engine.exchange).time_difference_ms < -100_000
    _no_order_twice(engine, api_key)


async def test_an_accepted_order_whose_fills_stay_unseen_is_unknown_not_open(
    engine: VenueEngine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """OKX and Bybit answer every placement with an ACK: the fill is known by a lookup. An
    ACK whose order stays invisible must stay on the reconcile list, not pass as unfilled."""
    user_id, api_key = await engine.user(1605, {"USDT": "1000", "BNB": "0.5"})
    await engine.accounts.set_strategy(
        user_id, Strategy(kind="fixed", weights={"BNB": Decimal(50), "USDT": Decimal(50)})
    )
    engine.fake.lookup_delay = 30.0
    engine.fake.inject(engine.fake.order_path, "unseen", method="POST")
    result = await engine.rebalancer.run(user_id, RunTrigger.AUTO)
    assert [o.status for o in result.orders] == ["unknown"]
    (booked,) = engine.fake.orders(api_key)
    booked.visible_at = 0.0
    await engine.later(user_id, 2)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "closed"
    assert Decimal(order.filled) == booked.filled
    assert engine.fake.order_posts(order.client_order_id) == 1

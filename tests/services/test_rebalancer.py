"""One run end to end through real ccxt against the fake exchange: live, dry-run, faults."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.domain.valuation import value_portfolio
from bot.services.run_result import Problem
from tests.services.conftest import Engine, spend_every_budget

START = {"USDT": "1000", "BTC": "0.01"}
TARGETS = {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(20), "USDT": Decimal(10)}


async def _weights(engine: Engine, api_key: str) -> dict[str, Decimal]:
    hub = engine.hubs.get("binance")
    valuation = value_portfolio(
        engine.fake.balances(api_key), await hub.prices(), await hub.markets(), "USDT"
    )
    return valuation.weights()


def _within(weights: dict[str, Decimal], points: Decimal) -> bool:
    return all(abs(weights.get(a, Decimal(0)) - t) <= points for a, t in TARGETS.items())


async def test_live_run_reaches_the_targets(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(1, START)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.MANUAL)
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert result.problem is None
    assert _within(await _weights(engine_services, api_key), Decimal(5))
    # Sells went before buys, and every order is on this user's key.
    sides = [o.side for o in engine_services.fake.orders(api_key)]
    assert sides == sorted(sides, key=lambda s: s != "SELL")
    assert result.value_after is not None
    assert result.value_after > Decimal("1590")  # 1,600 less fees
    # A second run right after has nothing to do.
    again = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert again.status == RunStatus.SKIPPED.value
    assert again.orders == ()


async def test_dry_run_places_nothing_and_records_the_plan(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine_services.user(2, START, dry_run=True)
    preview = await engine_services.rebalancer.preview(user_id)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.MANUAL, preview)
    assert engine_services.fake.count("/api/v3/order", "POST") == 0
    assert engine_services.fake.balances(api_key) == {
        "USDT": Decimal("1000"),
        "BTC": Decimal("0.01"),
    }
    assert result.dry_run
    assert result.status == RunStatus.SUCCEEDED.value
    assert {o.status for o in result.orders} == {"simulated"}
    async with session_factory() as session:
        run = await Repositories(session).runs.get(user_id, result.run_id or 0)
        assert run is not None
        assert run.dry_run
        planned = [(leg["side"], leg["symbol"]) for leg in (run.plan or {})["legs"]]
        assert planned == [(leg.side, leg.symbol) for leg in preview.legs]
        orders = await Repositories(session).orders.for_run(user_id, run.id)
        assert [o.status for o in orders] == ["simulated"] * len(preview.legs)


async def test_two_users_at_once_touch_only_their_own_accounts(engine_services: Engine) -> None:
    a, key_a = await engine_services.user(3, START)
    b, key_b = await engine_services.user(
        4, {"USDT": "500", "ETH": "0.5"}, {"ETH": "50", "SOL": "50"}
    )
    result_a, result_b = await asyncio.gather(
        engine_services.rebalancer.run(a, RunTrigger.AUTO),
        engine_services.rebalancer.run(b, RunTrigger.AUTO),
    )
    assert result_a.status == result_b.status == RunStatus.SUCCEEDED.value
    symbols_a = {o.symbol for o in engine_services.fake.orders(key_a)}
    symbols_b = {o.symbol for o in engine_services.fake.orders(key_b)}
    assert "SOLUSDT" in symbols_b
    assert "SOLUSDT" not in symbols_a
    assert "SOL" not in engine_services.fake.balances(key_a)
    assert {o.client_order_id for o in result_a.orders}.isdisjoint(
        {o.client_order_id for o in result_b.orders}
    )


async def test_a_second_run_for_the_same_user_is_refused(engine_services: Engine) -> None:
    from bot.errors import RunInProgress

    user_id, _key = await engine_services.user(5, START)
    engine_services.fake.inject("/sapi/v3/asset/getUserAsset", "latency", delay=0.3)
    first = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    await asyncio.sleep(0.05)
    with pytest.raises(RunInProgress):
        await engine_services.rebalancer.run(user_id, RunTrigger.MANUAL)
    assert (await first).status == RunStatus.SUCCEEDED.value


@pytest.mark.parametrize("kind", ["500", "429", "timeout"])
@pytest.mark.parametrize(
    "path", ["/sapi/v3/asset/getUserAsset", "/api/v3/ticker/price", "/api/v3/exchangeInfo"]
)
async def test_transient_faults_on_reads_are_retried(
    engine_services: Engine, path: str, kind: str
) -> None:
    user_id, api_key = await engine_services.user(6, START)
    engine_services.fake.inject(path, kind, count=1)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert _within(await _weights(engine_services, api_key), Decimal(5))


async def test_exchange_down_fails_truthfully(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(7, START)
    engine_services.fake.inject("/sapi/v3/asset/getUserAsset", "502", count=None)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.FAILED.value
    assert result.problem == Problem.UNAVAILABLE
    assert engine_services.fake.orders(api_key) == []


async def test_partial_fill_is_reported(engine_services: Engine) -> None:
    user_id, _key = await engine_services.user(9, START)
    engine_services.fake.inject("/api/v3/order", "partial", count=1, method="POST")
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.PARTIAL.value
    assert result.problem == Problem.PARTIAL
    assert any(o.status == "expired" and o.filled < (o.amount or 0) for o in result.orders)


async def test_invalid_key_mid_run(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(10, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=0.2, method="POST")

    async def revoke() -> None:
        await asyncio.sleep(0.1)
        del engine_services.fake.accounts[api_key]

    result, _ = await asyncio.gather(
        engine_services.rebalancer.run(user_id, RunTrigger.AUTO), revoke()
    )
    assert result.problem == Problem.AUTH
    assert result.status in (RunStatus.PARTIAL.value, RunStatus.FAILED.value)


async def test_insufficient_funds_on_one_order(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(11, START)
    preview = await engine_services.rebalancer.preview(user_id)
    assert preview.legs
    engine_services.fake.accounts[api_key].balances["BTC"] = Decimal("0.001")
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status in (
        RunStatus.PARTIAL.value,
        RunStatus.FAILED.value,
        RunStatus.SUCCEEDED.value,
    )


async def test_stopping_lets_go_a_run_queued_behind_the_weight_limit(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A graceful stop must not wait a minute for the exchange's budget: a run still reading
    is let go with nothing recorded and nothing sent, and no new run starts."""
    from bot.errors import ShuttingDown

    user_id, api_key = await engine_services.user(40, START)
    hub = engine_services.hubs.get("binance")
    await hub.prices()  # markets and prices cached: the run waits only for its balance read
    spend_every_budget(hub.budgets)
    run = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    await asyncio.sleep(0.2)
    assert not run.done()  # queued behind the limit
    assert engine_services.rebalancer.drain() == 1
    async with asyncio.timeout(2):
        with pytest.raises(ShuttingDown):
            await run
    assert engine_services.fake.count("/sapi/v3/asset/getUserAsset") == 0
    assert engine_services.fake.orders(api_key) == []
    async with session_factory() as session:
        assert await Repositories(session).runs.latest(user_id, limit=10) == []
    with pytest.raises(ShuttingDown):
        await engine_services.rebalancer.run(user_id, RunTrigger.MANUAL)
    with pytest.raises(ShuttingDown):
        await engine_services.rebalancer.preview(user_id)


async def test_stopping_lets_a_run_placing_orders_finish(engine_services: Engine) -> None:
    """Half a rebalance (sold, not bought) is worse than a few seconds' wait: it finishes."""
    user_id, api_key = await engine_services.user(41, START)
    engine_services.fake.inject("/api/v3/order", "latency", count=None, delay=0.2, method="POST")
    run = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    for _ in range(250):  # until the first order is booked: the run is trading
        if engine_services.fake.orders(api_key):
            break
        await asyncio.sleep(0.02)
    assert not run.done()
    assert engine_services.rebalancer.drain() == 0
    result = await run
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert _within(await _weights(engine_services, api_key), Decimal(5))


async def test_a_cancelled_price_request_fails_its_sharers_softly() -> None:
    """Callers sharing one price request are not cancelled because its owner was."""
    from bot.errors import TemporaryExchangeError
    from bot.services.market_data import PriceCache

    cache = PriceCache(ttl=30)
    started = asyncio.Event()

    async def slow() -> dict[str, Decimal]:
        started.set()
        await asyncio.sleep(10)
        return {}

    owner = asyncio.create_task(cache.get(slow))
    await started.wait()
    sharer = asyncio.create_task(cache.get(slow))
    await asyncio.sleep(0)
    owner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await owner
    with pytest.raises(TemporaryExchangeError):
        await sharer

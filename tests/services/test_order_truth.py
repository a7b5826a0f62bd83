"""Never misrecord or double a trade, against a fake that answers as Binance does: lost answers,
JSON-coded 5xx, lookups that miss for a moment, reusable client ids, clock skew."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.valuation import value_portfolio
from bot.services.run_result import Problem
from tests.services.conftest import Engine

START = {"USDT": "1000", "BTC": "0.01"}
TARGETS = {"BTC": Decimal(40), "ETH": Decimal(30), "BNB": Decimal(20), "USDT": Decimal(10)}


async def _weights(engine: Engine, api_key: str) -> dict[str, Decimal]:
    hub = engine.hubs.get("binance")
    valuation = value_portfolio(
        engine.fake.balances(api_key), await hub.prices(), await hub.markets(), "USDT"
    )
    return valuation.weights()


def _within(weights: dict[str, Decimal], points: Decimal = Decimal(5)) -> bool:
    return all(abs(weights.get(a, Decimal(0)) - t) <= points for a, t in TARGETS.items())


def _no_order_twice(engine: Engine, api_key: str) -> None:
    seen = [o.client_order_id for o in engine.fake.orders(api_key)]
    assert len(seen) == len(set(seen)), seen


async def _orders(sessions: async_sessionmaker[AsyncSession], user_id: int, run_id: int) -> Any:
    async with sessions() as session:
        return await Repositories(session).orders.for_run(user_id, run_id)


async def _run_row(sessions: async_sessionmaker[AsyncSession], user_id: int, run_id: int) -> Any:
    async with sessions() as session:
        return await Repositories(session).runs.get(user_id, run_id)


async def _later(engine: Engine, user_id: int, minutes: float) -> list[Any]:
    """A reconciliation pass as if `minutes` had gone by (under the user's lock, as the
    periodic job does it)."""
    async with engine.rebalancer.locks.hold(user_id):
        return await engine.rebalancer.reconciler.reconcile_user(
            user_id, now=utcnow() + timedelta(minutes=minutes), everything=True
        )


# Each fault on the first order: what Binance means by it, and what we must do.
FAULTS = [
    # The answer is lost but the order was booked; a lookup a moment later finds it.
    pytest.param({"kind": "timeout_after"}, RunStatus.SUCCEEDED, 1, id="timeout-after-booking"),
    pytest.param(
        {"kind": "code", "code": -1001, "status": 503, "booked": True},
        RunStatus.SUCCEEDED,
        1,
        id="1001-503-booked",
    ),
    pytest.param(
        {"kind": "code", "code": -1007, "status": 408, "booked": True},
        RunStatus.SUCCEEDED,
        1,
        id="1007-408-booked",
    ),
    pytest.param(
        {"kind": "code", "code": -1006, "status": 502, "booked": True},
        RunStatus.SUCCEEDED,
        1,
        id="1006-502-booked",
    ),
    # Unknown and not booked: lookups miss, and a resend would be a blind one. Never resent.
    pytest.param({"kind": "500"}, RunStatus.UNRESOLVED, 1, id="html-500"),
    pytest.param({"kind": "timeout"}, RunStatus.UNRESOLVED, 1, id="timeout-before-booking"),
    pytest.param(
        {"kind": "code", "code": -1001, "status": 400}, RunStatus.UNRESOLVED, 1, id="1001-400"
    ),
    pytest.param(
        {"kind": "code", "code": -1008, "status": 503}, RunStatus.UNRESOLVED, 1, id="1008-503"
    ),
    # Refused before processing: not placed, so it may be sent again after the pause.
    pytest.param({"kind": "429"}, RunStatus.SUCCEEDED, 2, id="429"),
]


@pytest.mark.parametrize(("fault", "status", "posts"), FAULTS)
async def test_order_faults_are_looked_up_never_resent(
    engine_services: Engine,
    session_factory: async_sessionmaker[AsyncSession],
    fault: dict[str, Any],
    status: RunStatus,
    posts: int,
) -> None:
    user_id, api_key = await engine_services.user(8, START)
    engine_services.fake.inject("/api/v3/order", method="POST", count=1, **fault)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    first = result.orders[0]
    assert engine_services.fake.order_posts(first.client_order_id) == posts
    _no_order_twice(engine_services, api_key)
    assert result.status == status.value, result
    if status == RunStatus.SUCCEEDED:
        assert _within(await _weights(engine_services, api_key))
        return
    # The unknown order stops the run (no blind next step) and stays on the reconcile list.
    assert result.problem == Problem.UNRESOLVED
    assert [o.status for o in result.orders] == ["unknown"]
    # Time passes, lookups keep missing, and the account's order list lacks it: not placed.
    for minutes in (1, 3, 6, 12):
        await _later(engine_services, user_id, minutes)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "not_placed"
    run = await _run_row(session_factory, user_id, result.run_id or 0)
    assert run.status == RunStatus.FAILED.value
    assert engine_services.fake.count("/api/v3/allOrders") >= 1
    # The next run re-plans from real balances and heals, with nothing sent twice.
    healed = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert healed.status == RunStatus.SUCCEEDED.value, healed
    _no_order_twice(engine_services, api_key)
    assert _within(await _weights(engine_services, api_key))


async def test_a_filled_order_that_lookups_missed_is_found_and_the_run_corrected(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Seen: the exchange filled 0.533 BNB, the database said unknown, the user "not filled".
    The order stays unknown, the report says so, and the record is corrected when it shows."""
    user_id, api_key = await engine_services.user(9, {"USDT": "1000"}, {"BNB": "50", "USDT": "50"})
    engine_services.fake.lookup_delay = 30.0  # longer than the run's own lookups
    engine_services.fake.inject("/api/v3/order", "timeout_after", method="POST")
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.UNRESOLVED.value
    assert [o.status for o in result.orders] == ["unknown"]
    (booked,) = engine_services.fake.orders(api_key)
    assert booked.executed_qty > 0
    await engine_services.rebalancer.mark_notified(user_id, result)
    # A pass while the exchange still hides it: still unknown, nothing closed for good.
    await _later(engine_services, user_id, 1)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "unknown"
    booked.visible_at = 0.0  # the exchange catches up
    await _later(engine_services, user_id, 2)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "closed"
    assert order.filled == booked.executed_qty
    assert order.fees == {"BNB": str(booked.commission["BNB"])}
    run = await _run_row(session_factory, user_id, result.run_id or 0)
    assert run.status == RunStatus.SUCCEEDED.value
    assert run.revised_at is not None  # reported before: the user is told once
    assert engine_services.fake.order_posts(order.client_order_id) == 1


async def test_a_reconcile_that_meets_an_outage_keeps_looking(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine_services.user(10, {"USDT": "1000"}, {"BNB": "50", "USDT": "50"})
    engine_services.fake.lookup_delay = 30.0
    engine_services.fake.inject("/api/v3/order", "timeout_after", method="POST")
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    engine_services.fake.inject("/api/v3/order", "502", method="GET", count=None)
    for minutes in (1, 5, 15, 30):  # long past the absence grace: failures are not misses
        await _later(engine_services, user_id, minutes)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "unknown"
    assert order.lookups == 0
    engine_services.fake.clear_faults()
    engine_services.fake.orders(api_key)[0].visible_at = 0.0
    await _later(engine_services, user_id, 31)
    (order,) = await _orders(session_factory, user_id, result.run_id or 0)
    assert order.status == "closed"


async def test_a_young_unknown_order_holds_the_next_run(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """An order still propagating could execute after a fresh plan bought the same again."""
    user_id, api_key = await engine_services.user(11, {"USDT": "1000"}, {"BNB": "50", "USDT": "50"})
    engine_services.fake.lookup_delay = 60.0
    engine_services.fake.inject("/api/v3/order", "timeout_after", method="POST")
    first = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert first.status == RunStatus.UNRESOLVED.value
    second = await engine_services.rebalancer.run(user_id, RunTrigger.MANUAL)
    assert second.problem == Problem.UNRESOLVED
    assert second.orders == ()
    assert len(engine_services.fake.orders(api_key)) == 1
    preview = await engine_services.rebalancer.preview(user_id)
    assert preview.unsettled_orders == 1


async def test_a_crash_mid_run_is_reconciled_and_nothing_resent(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, api_key = await engine_services.user(12, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=5.0, method="POST", count=None)
    task = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    while engine_services.fake.count("/api/v3/order", "POST") < 1:  # noqa: ASYNC110 - polling the fake
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    engine_services.fake.clear_faults()
    await asyncio.sleep(0.3)  # the server may still book the order it was sleeping on
    posts = engine_services.fake.count("/api/v3/order", "POST")
    assert await engine_services.rebalancer.reconcile() == 1
    async with session_factory() as session:
        (run,) = await Repositories(session).runs.latest(user_id)
    assert run.status == RunStatus.INTERRUPTED.value
    booked = {o.client_order_id for o in engine_services.fake.orders(api_key)}
    for minutes in (1, 3, 6, 12):
        await _later(engine_services, user_id, minutes)
    for order in await _orders(session_factory, user_id, run.id):
        expected = "closed" if order.client_order_id in booked else "not_placed"
        assert order.status == expected, order.client_order_id
    assert engine_services.fake.count("/api/v3/order", "POST") == posts
    healed = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert healed.status in (RunStatus.SUCCEEDED.value, RunStatus.SKIPPED.value), healed
    assert _within(await _weights(engine_services, api_key))
    _no_order_twice(engine_services, api_key)


async def test_client_ids_carry_a_per_install_salt(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, _key = await engine_services.user(13, START)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    async with session_factory() as session:
        salt = await Repositories(session).state.get("client_order_id_salt")
    assert salt is not None
    assert len(salt) == 6
    for order in result.orders:
        assert order.client_order_id.startswith(f"rb{salt}{result.run_id}-")
        assert len(order.client_order_id) <= 36


async def test_clock_skew_is_corrected_by_syncing_with_the_exchange(
    engine_services: Engine,
) -> None:
    user_id, api_key = await engine_services.user(14, START)
    engine_services.fake.clock_offset_ms = -15_000  # our timestamps look 15 s ahead
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value, result
    assert engine_services.fake.count("/api/v3/time") >= 1
    # The exchange's clock moves on (or ours jumps): a -1021 re-reads the clock and retries.
    engine_services.fake.clock_offset_ms = 20_000
    again = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert again.problem is None, again
    assert again.status == RunStatus.SKIPPED.value  # read fine: nothing left to do
    assert engine_services.fake.count("/api/v3/time") >= 2
    assert _within(await _weights(engine_services, api_key))


async def test_an_answer_that_is_not_json_is_never_read_as_an_empty_account(
    engine_services: Engine,
) -> None:
    user_id, api_key = await engine_services.user(19, START)
    engine_services.fake.inject("/sapi/v3/asset/getUserAsset", "garbage", count=None)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.FAILED.value
    assert result.problem == Problem.UNAVAILABLE
    assert engine_services.fake.orders(api_key) == []


async def test_a_clock_that_stays_refused_is_said_as_such(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(15, START)
    engine_services.fake.inject(
        "/sapi/v3/asset/getUserAsset",
        "code",
        code=-1021,
        status=400,
        msg="Timestamp for this request is outside of the recvWindow.",
        count=None,
    )
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.problem == Problem.CLOCK
    assert result.run_id is not None
    assert engine_services.fake.orders(api_key) == []


async def test_a_delisted_target_is_a_recorded_failure_not_an_escape(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, _key = await engine_services.user(16, START, {"BTC": "50", "DOT": "50"})
    del engine_services.fake.markets["DOTUSDT"]
    del engine_services.fake.prices["DOTUSDT"]
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.FAILED.value
    assert result.problem == Problem.TARGETS
    assert "DOT" in str(result.detail["params"])
    assert result.detail["failure_streak"] == 1
    run = await _run_row(session_factory, user_id, result.run_id or 0)
    assert run.status == RunStatus.FAILED.value
    assert run.error == "targets"


class _BrokenHubs:
    """Our own seam, failing the way no exchange error does (a bug of ours)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.broken = True

    def get(self, exchange_id: str) -> Any:
        hub = self.real.get(exchange_id)
        if not self.broken:
            return hub

        class Broken:
            async def markets(self) -> Any:
                raise RuntimeError("a bug of ours")

            def __getattr__(self, name: str) -> Any:
                return getattr(hub, name)

        return Broken()


async def test_an_unexpected_error_is_a_recorded_failure(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    from bot.services.rebalancer import Rebalancer

    user_id, _key = await engine_services.user(17, START)
    hubs = _BrokenHubs(engine_services.hubs)
    rebalancer = Rebalancer(session_factory, engine_services.accounts, hubs, None)
    result = await rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.FAILED.value
    assert result.problem == Problem.INTERNAL
    assert result.run_id is not None
    run = await _run_row(session_factory, user_id, result.run_id)
    assert (run.status, run.error) == (RunStatus.FAILED.value, "RuntimeError")
    for expected in (2, 3):
        again = await rebalancer.run(user_id, RunTrigger.AUTO)
        assert again.detail["failure_streak"] == expected
    hubs.broken = False
    healed = await rebalancer.run(user_id, RunTrigger.AUTO)
    await rebalancer.close()
    assert healed.status == RunStatus.SUCCEEDED.value
    assert healed.detail["failure_streak"] == 0


async def test_fees_paid_in_bnb_then_in_the_received_asset_are_recorded_per_currency(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Binance takes the fee in BNB while BNB lasts, then in what the order bought: one order
    can pay in both. Every currency is recorded, and the fees in the quote are each valued at
    their own price."""
    engine_services.fake.fills_per_order = 2
    user_id, api_key = await engine_services.user(
        18, {"USDT": "1000", "BNB": "0.0004"}, {"ETH": "50", "USDT": "50"}
    )
    engine_services.fake.accounts[api_key].pay_fees_in_bnb = True
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value, result
    (booked,) = engine_services.fake.orders(api_key)
    assert set(booked.commission) == {"BNB", "ETH"}  # the fake really mixed them
    (order,) = result.orders
    assert order.fees == booked.commission
    expected = booked.commission["BNB"] * 600 + booked.commission["ETH"] * 3000
    assert order.fee_quote == expected
    run = await _run_row(session_factory, user_id, result.run_id or 0)
    assert run.fees == expected
    # What the run thinks it holds is what the exchange holds.
    balances = engine_services.fake.balances(api_key)
    hub = engine_services.hubs.get("binance")
    value = value_portfolio(balances, await hub.prices(), await hub.markets(), "USDT")
    assert result.value_after is not None
    assert abs(result.value_after - value.total_value) < Decimal("0.000001")


async def test_six_hundred_runs_through_a_pool_of_eight_lose_none(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """A full client pool must not close a client a run is using (it failed runs between
    their sells and their buys)."""
    hub = engine_services.hubs.get("binance")
    hub.pool.size = 8
    hub.budgets.lifted = True  # 600 runs are minutes of Binance's weight: not the point here
    engine_services.fake.budgets.enforce = False
    # All 600 in flight at once where the database allows it (SQLite leases are rows; on
    # PostgreSQL each held lock is a connection, so a process holds at most its pool's worth).
    from bot.services.rebalancer import Rebalancer
    from bot.services.run_lock import RunLocks

    postgres = engine_services.rebalancer.locks.postgres
    locks = RunLocks(session_factory, max_concurrent=32 if postgres else 600)
    rebalancer = Rebalancer(
        session_factory, engine_services.accounts, engine_services.hubs, None, locks=locks
    )
    # Each run sells BTC, reads its balances again and buys ETH: its client must survive the
    # hundreds of other runs making clients while its sell is in flight.
    engine_services.fake.inject("/api/v3/order", "latency", delay=0.05, method="POST", count=None)
    users = await engine_services.many_users(
        600, {"USDT": "100", "BTC": "0.02"}, {"BTC": "50", "ETH": "50"}
    )
    try:
        results = await asyncio.gather(
            *(rebalancer.run(user_id, RunTrigger.AUTO) for user_id, _key in users)
        )
    finally:
        await rebalancer.close()
    assert [r.status for r in results].count(RunStatus.SUCCEEDED.value) == 600, [
        (r.status, r.problem) for r in results if r.status != RunStatus.SUCCEEDED.value
    ][:5]
    assert all(len(r.orders) == 2 for r in results)
    assert len(hub.pool) <= 8


async def test_a_target_without_a_price_trades_nothing(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    """Its whole weight would count as drift: every run would trade everything else back to
    its exact target (150 trades a day on a 5-point threshold). Now it is said, not traded."""
    user_id, api_key = await engine_services.user(20, START, {"BTC": "50", "DOT": "50"})
    await engine_services.hubs.get("binance").markets()  # DOT listed...
    del engine_services.fake.prices["DOTUSDT"]  # ...but no price any more
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.problem == Problem.NO_PRICES
    assert result.detail["assets"] == ["DOT"]
    assert engine_services.fake.orders(api_key) == []

"""Every Binance budget kept: read from exchangeInfo, synced from the headers, paused on 429
and 418, runs before chat commands; and the fake, keeping Binance's budgets, never refuses."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal

import pytest

from bot.db.models import RunStatus, RunTrigger
from bot.services.budgets import ExchangeBudgets, interactive
from tests.fakes.binance_budgets import Counter
from tests.realdata import exchange_info_2025
from tests.services.conftest import Engine

START = {"USDT": "1000", "BTC": "0.01"}


def test_the_limits_come_from_exchange_info() -> None:
    """The 2025-08 capture has no intervalNum: Binance's documented intervals apply."""
    budgets = ExchangeBudgets()
    budgets.configure(exchange_info_2025()["rateLimits"])
    assert (budgets.weight.limit, budgets.weight.seconds, budgets.weight.cap) == (6000, 60, 4800)
    assert (budgets.raw.limit, budgets.raw.seconds) == (61000, 300)
    tens, day = budgets.order_windows("account")
    assert (tens.limit, tens.seconds) == (50, 10)
    assert (day.limit, day.seconds) == (160_000, 86_400)


def test_each_method_spends_its_own_budgets() -> None:
    budgets = ExchangeBudgets()
    balance = dict((w.name, n) for w, n in budgets.windows("sapiv3_post_asset_getuserasset", "a"))
    assert balance == {"RAW_REQUESTS": 1, "/sapi/v3/asset/getUserAsset": 5}  # no /api weight
    order = dict((w.name, n) for w, n in budgets.windows("create_order", "a"))
    assert order == {"RAW_REQUESTS": 1, "REQUEST_WEIGHT": 1, "ORDERS/10s": 1, "ORDERS/86400s": 1}
    unknown = dict((w.name, n) for w, n in budgets.windows("some_new_endpoint", None))
    assert unknown["REQUEST_WEIGHT"] == 50  # conservative


def test_the_exchange_s_own_counts_are_trusted_when_higher() -> None:
    budgets = ExchangeBudgets()
    budgets.observe("fetch_order", None, {"x-mbx-used-weight-1m": "4000"})
    assert budgets.weight.used == 4000
    budgets.observe("sapiv3_post_asset_getuserasset", None, {"x-sapi-used-ip-weight-1m": "900"})
    assert budgets.sapi["/sapi/v3/asset/getUserAsset"].used == 900
    budgets.observe(
        "create_order", "a", {"x-mbx-order-count-10s": "7", "x-mbx-order-count-1d": "31"}
    )
    assert [w.used for w in budgets.order_windows("a")] == [7, 31]


async def test_a_pause_is_waited_out() -> None:
    budgets = ExchangeBudgets()
    budgets.pause("fetch_order", None, 0.3)
    started = time.monotonic()
    await budgets.acquire("fetch_order")
    assert time.monotonic() - started >= 0.25


async def test_a_budget_is_kept_and_runs_go_before_chat_commands() -> None:
    budgets = ExchangeBudgets()
    budgets.configure([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "limit": 100}])
    for _ in range(15):  # 60 of the 80 usable
        await budgets.acquire("fetch_order")
    assert budgets.weight.used == 60

    async def chat_command() -> None:
        interactive.set(True)  # in its own task, as every update is
        await budgets.acquire("fetch_order")

    with pytest.raises(TimeoutError):  # a chat command may use 75 % of the budget: 60 of 80
        async with asyncio.timeout(0.2):
            await asyncio.create_task(chat_command())
    for _ in range(5):  # a scheduled run may use the rest
        await budgets.acquire("fetch_order")
    assert budgets.weight.used == 80
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await budgets.acquire("fetch_order")


async def test_runs_within_a_tight_budget_are_never_refused_by_the_exchange(
    engine_services: Engine,
) -> None:
    """The fake keeps a /api budget of 150 weight per 10 s and says so in exchangeInfo: forty
    live runs of three orders each must wait for it, never earn a 429."""
    fake = engine_services.fake
    fake.budgets.request_weight = 150
    fake.budgets.api = Counter(10)
    fake.rate_limits[0] = {
        "rateLimitType": "REQUEST_WEIGHT",
        "interval": "SECOND",
        "intervalNum": 10,
        "limit": 150,
    }
    users = await engine_services.many_users(
        40, START, {"BTC": "40", "ETH": "30", "BNB": "20", "USDT": "10"}
    )
    started = time.monotonic()
    results = await asyncio.gather(
        *(engine_services.rebalancer.run(user_id, RunTrigger.AUTO) for user_id, _key in users)
    )
    assert fake.budgets.refusals == []
    assert all(r.status == RunStatus.SUCCEEDED.value for r in results), [
        (r.status, r.problem) for r in results
    ][:3]
    assert time.monotonic() - started > 5  # it had to wait for the window
    assert fake.count("/api/v3/account") == 0
    budgets = engine_services.hubs.get("binance").budgets
    assert budgets.weight.limit == 150
    assert budgets.weight.seconds == 10
    assert sum(o.filled > Decimal(0) for r in results for o in r.orders) == 120


async def test_buys_are_funded_from_the_sells_fills_with_one_balance_read(
    engine_services: Engine,
) -> None:
    """No second balance read after the sells, and no buy short of funds for it: with fees in
    the quote, and with fees in BNB."""
    for n, bnb in enumerate((False, True)):
        user_id, api_key = await engine_services.user(
            900 + n,
            {"USDT": "100", "BTC": "0.02", "BNB": "0.5"},
            {"BTC": "20", "ETH": "40", "BNB": "20", "USDT": "20"},
        )
        engine_services.fake.accounts[api_key].pay_fees_in_bnb = bnb
        reads = engine_services.fake.count("/sapi/v3/asset/getUserAsset")
        result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
        assert result.status == RunStatus.SUCCEEDED.value, (bnb, result.problem, result.orders)
        assert next(o.side for o in result.orders) == "sell"
        assert "buy" in [o.side for o in result.orders]
        assert engine_services.fake.count("/sapi/v3/asset/getUserAsset") == reads + 1
        paid_in_bnb = {
            o.symbol for o in engine_services.fake.orders(api_key) if "BNB" in o.commission
        }
        assert bool(paid_in_bnb - {"BNBUSDT"}) is bnb


async def test_a_ban_stops_every_request_on_its_budget_and_is_logged(
    engine_services: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    hub = engine_services.hubs.get("binance")
    await hub.markets()
    engine_services.fake.inject("/api/v3/ticker/price", "418", retry_after=2)
    started = time.monotonic()
    with caplog.at_level("ERROR"):
        prices = await hub.prices()  # banned once, waited out, then answered
    assert prices["BTC/USDT"] > 0
    assert time.monotonic() - started >= 2
    assert any("banned this IP" in r.getMessage() for r in caplog.records)
    # SAPI endpoints have budgets of their own: a balance read does not wait for /api's.
    engine_services.fake.inject("/api/v3/ticker/price", "418", retry_after=30)
    hub.budgets.pause("fetch_last_prices", None, 30)
    assert await hub.budgets.acquire("sapiv3_post_asset_getuserasset") == 0

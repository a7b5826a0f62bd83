"""The operator's kill switch is persisted and checked before every order."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from bot.db.models import RunStatus, RunTrigger
from bot.services.run_result import Problem
from tests.services.conftest import Engine

START = {"USDT": "1000", "BTC": "0.01"}


async def test_no_run_trades_while_the_switch_is_on(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(1, START)
    switch = engine_services.rebalancer.kill_switch
    await switch.set(True)
    for trigger in (RunTrigger.AUTO, RunTrigger.MANUAL):
        result = await engine_services.rebalancer.run(user_id, trigger)
        assert result.problem == Problem.HALTED
        assert result.run_id is not None  # recorded, with its reason
    assert engine_services.fake.orders(api_key) == []
    await switch.set(False)
    result = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert result.status == RunStatus.SUCCEEDED.value


async def test_a_switch_thrown_mid_run_stops_the_next_order(engine_services: Engine) -> None:
    user_id, api_key = await engine_services.user(2, START)
    engine_services.fake.inject("/api/v3/order", "latency", delay=0.3, method="POST", count=None)
    run = asyncio.create_task(engine_services.rebalancer.run(user_id, RunTrigger.AUTO))
    while not engine_services.fake.count("/api/v3/order", "POST"):  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    await engine_services.rebalancer.kill_switch.set(True)
    result = await run
    assert result.problem == Problem.HALTED
    assert len(engine_services.fake.orders(api_key)) == 1  # the one in flight, no more
    assert result.status == RunStatus.PARTIAL.value
    assert sum(o.filled > Decimal(0) for o in result.orders) == 1

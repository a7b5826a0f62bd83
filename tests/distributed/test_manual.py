"""A manual rebalance in distributed mode: the bot owns no exchange budget, so the confirmed
preview goes through the queue to a worker and the result follows in the chat."""

from __future__ import annotations

from pathlib import Path

from bot.app import running
from tests.distributed.conftest import Workers, add_users, env_for, settings_for
from tests.e2e.conftest import Chat
from tests.fakes.telegram import FakeTelegram

THREE_BUYS = {"BTC": 40, "ETH": 30, "BNB": 30}


async def test_confirm_runs_on_a_worker_and_the_result_follows(
    pg_url: str, redis_url: str, fakes, tmp_path: Path, workers_factory
) -> None:
    exchange, caps = fakes
    await add_users(
        pg_url, 1, exchange=exchange, live=True, start={"USDT": "1000"}, weights=THREE_BUYS
    )
    workers = Workers(env_for(pg_url, redis_url, exchange, caps), tmp_path)
    workers_factory.append(workers)
    await workers.start("w")
    async with FakeTelegram() as telegram:
        settings = settings_for(
            pg_url,
            redis_url,
            exchange,
            caps,
            telegram_bot_token=telegram.token,
            telegram_api_base_url=telegram.base_url,
            user_updates_burst=1000,
            user_updates_per_minute=1000,
        )
        try:
            async with running(settings):
                chat = Chat(telegram, 700_000)
                preview = await chat.ask("/rebalance", timeout=30)
                placing = await chat.press(preview, "Confirm", timeout=30)
                assert "Placing orders" in placing.text
                result = await chat.reply(timeout=60)
                assert "3 orders" in result.text or "Bought" in result.text, result.text
        finally:
            await workers.stop_all()
    assert len(exchange.order_book) == 3
    assert "Traceback" not in workers.log("w")

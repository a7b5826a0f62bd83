"""Secret hygiene: after a full journey, the keys, the secret and the bot token appear in no log
line, no message, no exception text, and nowhere in the database in plaintext."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from sqlalchemy import text

from bot.app import running
from bot.db.engine import make_engine
from bot.log import setup_logging
from tests.e2e.conftest import World, connect, e2e_settings
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram


async def test_no_secret_leaks_anywhere(tmp_path: Path) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    setup_logging("DEBUG", stream)  # the most talkative production setting
    try:
        cmc_key = "0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d"
        async with (
            FakeTelegram() as telegram,
            FakeBinance() as exchange,
            FakeMarketCaps(cmc_keys=(cmc_key,)) as caps,
        ):
            settings = e2e_settings(
                telegram, exchange, caps, f"sqlite+aiosqlite:///{tmp_path}/bot.db"
            )
            world = World(telegram, exchange, settings)
            async with running(settings):
                chat = world.chat(6001)
                api_key, secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
                await chat.ask("/cmckey cmc-test-key-000000")
                ask = await chat.ask("/dryrun off")
                await chat.press(ask, "Yes")
                preview = await chat.ask("/rebalance")
                await chat.press(preview, "Confirm")
                await chat.reply(timeout=30)
                await chat.ask("/status")
                # An exchange error on the way: its text must not carry the key either.
                exchange.inject("/sapi/v3/asset/getUserAsset", "502", count=None)
                await chat.ask("/portfolio", timeout=30)
                exchange.clear_faults()
    finally:
        root.handlers = saved[1]
        root.setLevel(saved[0])
    secrets = {
        "api key": api_key,
        "secret": secret,
        "bot token": telegram.token,
        "cmc key": "cmc-test-key-000000",
    }
    logs = stream.getvalue()
    messages = [m.text for chat_messages in telegram.sent.values() for m in chat_messages]
    params = [str(call.params) for call in telegram.calls]
    database = b"".join(p.read_bytes() for p in tmp_path.glob("bot.db*"))  # noqa: ASYNC240 - a test reading its own files
    for name, value in secrets.items():
        assert value not in logs, f"{name} in the logs"
        assert all(value not in text for text in messages), f"{name} in a message"
        assert all(value not in text for text in params), f"{name} sent to Telegram"
        assert value.encode() not in database, f"{name} in the database file"
    assert "DEBUG" in logs or "INFO" in logs  # the handler really saw the run


async def test_debug_logs_of_a_key_connect_hold_no_ciphertext_nor_sql_parameters(
    tmp_path: Path,
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    setup_logging("DEBUG", stream)
    try:
        cmc_key = "0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d"
        async with (
            FakeTelegram() as telegram,
            FakeBinance() as exchange,
            FakeMarketCaps(cmc_keys=(cmc_key,)) as caps,
        ):
            settings = e2e_settings(
                telegram, exchange, caps, f"sqlite+aiosqlite:///{tmp_path}/bot.db"
            )
            world = World(telegram, exchange, settings)
            async with running(settings):
                chat = world.chat(6101)
                await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
                await chat.ask("/cmckey 0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d")
                logging.getLogger("tests.secrets").info(
                    "the key alone: 0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d"
                )
    finally:
        root.handlers = saved[1]
        root.setLevel(saved[0])
    engine = make_engine(settings.database_url)
    try:
        async with engine.connect() as connection:
            row = (
                await connection.execute(
                    text(
                        "SELECT api_key_encrypted, api_secret_encrypted, cmc_api_key_encrypted "
                        "FROM user_profiles"
                    )
                )
            ).one()
    finally:
        await engine.dispose()
    logs = stream.getvalue()
    assert "DEBUG" in logs  # the most talkative setting really was on
    for token in row:
        assert token
        assert token not in logs, "ciphertext in the DEBUG logs"
        assert token[:40] not in logs
    for marker in ("UPDATE user_profiles", "INSERT INTO", "[parameters", "executing"):
        assert marker not in logs, f"SQL ({marker!r}) in the DEBUG logs"
    assert "0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d" not in logs  # /cmckey KEY registers KEY

"""Deleted keys are gone: from the SQLite file (secure delete, WAL truncated), from memory (the
pooled exchange client), and the file was never readable by others."""

from __future__ import annotations

import stat
from pathlib import Path

from sqlalchemy import text

from bot.app import running
from bot.db.engine import make_engine
from tests.e2e.conftest import World, connect, e2e_settings, open_keys
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram


async def _tokens(database_url: str) -> list[str]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(
                text("SELECT api_key_encrypted, api_secret_encrypted FROM user_profiles")
            )
            return [token for row in rows for token in row if token]
    finally:
        await engine.dispose()


def _file_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.glob("bot.db*")))


def _pool_size(world: World) -> int:
    assert world.app is not None
    return len(world.app.bot_data["services"].hubs.get("binance").pool)


async def test_deletekeys_leaves_no_ciphertext_in_the_file_and_no_client(tmp_path: Path) -> None:
    folder = tmp_path / "data"  # does not exist yet: the bot creates it
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(telegram, exchange, caps, f"sqlite+aiosqlite:///{folder}/bot.db")
        world = World(telegram, exchange, settings)
        async with running(settings) as app:
            world.app = app
            chat = world.chat(8001)
            await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
            await chat.ask("/portfolio")
            assert _pool_size(world) == 1
            tokens = await _tokens(settings.database_url)
            assert len(tokens) == 2
            assert all(token.encode() in _file_bytes(folder) for token in tokens)
            ask = await chat.ask("/deletekeys")
            done = await chat.press(ask, "Yes")
            assert "deleted" in done.text
            assert _pool_size(world) == 0
            data = _file_bytes(folder)  # while the bot still runs: nothing to wait for
            for token in tokens:
                assert token.encode() not in data, "ciphertext left in the SQLite files"
                assert token[3:40].encode() not in data
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for file in folder.glob("bot.db*"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name


async def test_replaced_keys_and_deleteme_drop_the_pooled_client(world: World) -> None:
    chat = world.chat(8002)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/portfolio")
    assert _pool_size(world) == 1
    new_key, new_secret = "N" * 48 + "0000000000008002", "M" * 48 + "0000000000008002"
    world.exchange.add_account(new_key, new_secret, {"USDT": "5"})
    await open_keys(chat)
    await chat.ask(new_key)
    chat.send(new_secret)
    await chat.reply()  # checking
    assert new_key[-4:] in (await chat.reply()).text
    assert _pool_size(world) == 1  # the new key's client only: the old one was dropped
    # A key the exchange refuses leaves no client behind either.
    await open_keys(chat)
    await chat.ask("Z" * 64)
    chat.send("Y" * 64)
    await chat.reply()
    assert "rejected" in (await chat.reply()).text
    assert _pool_size(world) == 1
    ask = await chat.ask("/deleteme")
    await chat.press(ask, "Yes")
    assert _pool_size(world) == 0


async def test_an_existing_database_file_is_made_private(tmp_path: Path) -> None:
    database = tmp_path / "bot.db"
    database.touch()
    database.chmod(0o644)
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(telegram, exchange, caps, f"sqlite+aiosqlite:///{database}")
        async with running(settings):
            pass
    assert stat.S_IMODE(database.stat().st_mode) == 0o600

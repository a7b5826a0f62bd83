"""End to end: the real Application polling the fake Bot API, the engine on the fake exchange."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import BotApplication, running
from bot.config import Settings
from bot.services.credentials import CredentialVault
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram, SentMessage

MASTER = CredentialVault.generate_master_key()


def e2e_settings(
    telegram: FakeTelegram, exchange: FakeBinance, caps: FakeMarketCaps, db: str, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "coingecko_api_url": caps.coingecko_url,
        "coinmarketcap_api_url": caps.cmc_url,
        "telegram_bot_token": telegram.token,
        "telegram_api_base_url": telegram.base_url,
        "binance_api_url": exchange.url,
        "encryption_keys": MASTER,
        "database_url": db,
        "exchange_rate_limit": False,
        "exchange_timeout_seconds": 2.0,
        "min_interval_seconds": 1,
        "send_retry_seconds": 0.5,  # the backoff's shape is the same, only shorter
        # A loaded test machine may take a second; tests of the interim line set it lower.
        "interim_after_seconds": 30.0,
        # Tests type faster than people; the rate limit has tests of its own.
        "user_updates_burst": 10_000,
        "user_updates_per_minute": 60_000,
        "_env_file": None,
    }
    values.update(extra)
    return Settings(**values)


@dataclass
class Chat:
    """One user talking to the bot through the fake Bot API."""

    telegram: FakeTelegram
    chat_id: int
    language: str = "en"

    def send(self, text: str) -> int:
        return self.telegram.push_text(self.chat_id, text, language_code=self.language)

    async def reply(self, timeout: float = 15.0) -> SentMessage:
        return await self.telegram.wait_for_message(self.chat_id, timeout=timeout)

    async def ask(self, text: str, timeout: float = 15.0) -> SentMessage:
        self.send(text)
        return await self.reply(timeout)

    async def press(self, message: SentMessage, label: str, timeout: float = 15.0) -> SentMessage:
        data = message.button(label)["callback_data"]
        self.telegram.press_button(
            self.chat_id, message.message_id, data, language_code=self.language
        )
        return await self.reply(timeout)

    def press_data(self, message_id: int, data: str) -> str:
        return self.telegram.press_button(
            self.chat_id, message_id, data, language_code=self.language
        )


@dataclass
class World:
    telegram: FakeTelegram
    exchange: FakeBinance
    settings: Settings
    app: BotApplication | None = None
    caps: FakeMarketCaps | None = None

    def chat(self, chat_id: int, language: str = "en") -> Chat:
        return Chat(self.telegram, chat_id, language)


@pytest.fixture
async def stopped_world(tmp_path: Path) -> AsyncIterator[World]:
    """The fakes and the settings, no bot: for tests that start and stop the bot themselves."""
    async with (
        FakeTelegram() as telegram,
        FakeBinance(timeout_sleep=3.0) as exchange,
        FakeMarketCaps() as caps,
    ):
        settings = e2e_settings(telegram, exchange, caps, f"sqlite+aiosqlite:///{tmp_path}/bot.db")
        yield World(telegram, exchange, settings, caps=caps)
        # The fake refuses malformed HTML as Telegram does; no test may have sent any.
        assert telegram.html_errors == []


@pytest.fixture
async def world(stopped_world: World) -> AsyncIterator[World]:
    async with running(stopped_world.settings) as app:
        stopped_world.app = app
        yield stopped_world


async def open_keys(chat: Chat, exchange: str = "Binance") -> SentMessage:
    """/keys and the exchange's button; returns the request for the API key."""
    choice = await chat.ask("/keys")
    return await chat.press(choice, exchange)


async def connect(
    chat: Chat,
    world: World,
    balances: dict[str, str],
    *,
    targets: str = "BTC 40 ETH 30 BNB 20 USDT 10",
) -> tuple[str, str]:
    """Register, connect keys through the /keys dialog and set targets; returns (key, secret)."""
    api_key = "K" * 48 + f"{chat.chat_id:016d}"
    secret = "S" * 48 + f"{chat.chat_id:016d}"
    world.exchange.add_account(api_key, secret, balances)
    await chat.ask("/start")
    await open_keys(chat)
    await chat.ask(api_key)
    chat.send(secret)
    await chat.reply()  # checking
    connected = await chat.reply()
    assert api_key[-4:] in connected.text, connected.text
    await chat.ask(f"/targets {targets}")
    return api_key, secret


CYRILLIC = re.compile(r"[А-Яа-яІіЇїЄєҐґ]")

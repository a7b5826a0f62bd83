"""Webhook mode end to end on loopback: PTB's own webhook server, the fake Bot API posting to
it. A genuine update (with Telegram's secret header) is answered; forged ones are not."""

from __future__ import annotations

import asyncio
import re
import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.app import running
from bot.config import Settings
from bot.db.engine import make_engine, make_session_factory
from bot.db.repositories import Repositories
from bot.services.startup import WEBHOOK_SECRET_KEY
from tests.e2e.conftest import e2e_settings
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram

ADMIN = 9001
VICTIM = 9002


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _stored_secret(database_url: str) -> str | None:
    engine = make_engine(database_url)
    try:
        async with make_session_factory(engine)() as session:
            return await Repositories(session).state.get(WEBHOOK_SECRET_KEY)
    finally:
        await engine.dispose()


async def test_webhook_answers_telegram_and_ignores_forgeries(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        port = _free_port()  # chosen after the fakes took theirs, so it cannot be one of them
        settings = e2e_settings(
            telegram,
            exchange,
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            webhook_url=f"http://127.0.0.1:{port}/telegram/updates",
            webhook_listen="127.0.0.1",
            webhook_port=port,
            admin_ids=[ADMIN],
        )
        async with running(settings) as app:
            assert telegram.webhook_url == settings.webhook_url
            secret = telegram.webhook_secret
            assert secret is not None
            assert re.fullmatch(r"[A-Za-z0-9_-]{32,256}", secret)
            # Genuine: the fake posts with the secret header, as Telegram does.
            telegram.push_text(VICTIM, "/start")
            assert "Welcome" in (await telegram.wait_for_message(VICTIM)).text
            telegram.push_text(VICTIM, "/targets BTC 50 USDT 50")
            assert "BTC" in (await telegram.wait_for_message(VICTIM)).text
            # Forged: the same updates without the header, or with a guessed one.
            forgeries = [
                (telegram.text_update(VICTIM, "/targets DOGE 100"), None),
                (telegram.text_update(VICTIM, "/threshold 0"), "x" * 43),
                (telegram.text_update(ADMIN, "/admin pause"), None),
                # one character off (never the secret itself, whatever its last character)
                (
                    telegram.text_update(ADMIN, "/admin pause"),
                    secret[:-1] + ("B" if secret[-1] == "A" else "A"),
                ),
            ]
            for update, guess in forgeries:
                assert await telegram.post_update(update, secret_token=guess) == 403
            await asyncio.sleep(1.0)
            assert telegram.messages(ADMIN) == []
            assert len(telegram.messages(VICTIM)) == 2  # only the genuine two were answered
            account = await app.bot_data["services"].accounts.find(VICTIM)
            assert account is not None
            assert set(account.strategy.weights) == {"BTC", "USDT"}
            assert account.strategy.threshold == 5
            assert not app.bot_data.get("kill_switch")
        # The generated secret was kept: the next start uses it again.
        assert await _stored_secret(settings.database_url) == secret
        telegram.webhook_url = None
        async with running(settings):
            assert telegram.webhook_secret == secret


async def test_a_configured_webhook_secret_is_used_as_is(tmp_path: Path) -> None:
    configured = "S3cret_configured-by-the-operator-0123456789"
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        port = _free_port()  # chosen after the fakes took theirs
        settings = e2e_settings(
            telegram,
            exchange,
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            webhook_url=f"http://127.0.0.1:{port}/",
            webhook_port=port,
            webhook_secret=configured,
        )
        async with running(settings):
            assert telegram.webhook_secret == configured
            telegram.push_text(9101, "/help")
            assert "/start" in (await telegram.wait_for_message(9101)).text
        assert await _stored_secret(settings.database_url) is None


def test_a_weak_or_malformed_webhook_secret_is_refused() -> None:
    for bad in ("short", "has spaces in it but is long enough to pass a length check", "é" * 40):
        with pytest.raises(ValidationError, match="webhook_secret"):
            Settings(webhook_secret=bad, _env_file=None)  # type: ignore[call-arg]
    assert Settings(webhook_secret="", _env_file=None).webhook_secret is None  # type: ignore[call-arg]

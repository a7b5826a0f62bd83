"""OKX and Bybit end to end: the real bot, the fake Bot API and each exchange's loopback fake.

The /keys dialog (a withdraw-enabled key refused, then a good one; OKX asks for the
passphrase and deletes it like the secret), a dry and a live rebalance, and an order whose
answer is lost: looked up, never placed twice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.app import running
from tests.e2e.conftest import CYRILLIC, Chat, World, e2e_settings, open_keys
from tests.fakes.bybit import FakeBybit
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.okx import FakeOkx
from tests.fakes.spot_venue import FakeVenue
from tests.fakes.telegram import FakeTelegram

NAMES = {"okx": "OKX", "bybit": "Bybit"}
PHRASE = "Tr4de-only!"
REFUSE_WITHDRAW: dict[str, dict[str, Any]] = {
    "okx": {"perm": "read_only,trade,withdraw"},
    "bybit": {"permissions": {"Spot": ["SpotTrade"], "Wallet": ["Withdraw"]}},
}


@pytest.fixture(params=["okx", "bybit"])
async def venue_stopped(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    """The fakes and the settings for one exchange, no bot yet."""
    exchange: str = request.param
    fake: FakeVenue = (
        FakeOkx(timeout_sleep=3.0) if exchange == "okx" else FakeBybit(timeout_sleep=3.0)
    )
    async with FakeTelegram() as telegram, fake, FakeMarketCaps() as caps:
        settings = e2e_settings(
            telegram,
            fake,  # type: ignore[arg-type]
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            **{f"{exchange}_api_url": fake.url},
        )
        yield World(telegram, fake, settings, caps=caps)  # type: ignore[arg-type]
        assert telegram.html_errors == []


@pytest.fixture
async def venue_world(venue_stopped: World) -> AsyncIterator[World]:
    async with running(venue_stopped.settings) as app:
        venue_stopped.app = app
        yield venue_stopped


def _exchange(world: World) -> str:
    return "okx" if isinstance(world.exchange, FakeOkx) else "bybit"


def _credentials(exchange: str, chat_id: int, salt: str = "") -> tuple[str, str]:
    if exchange == "okx":  # a UUID key, a 32-hex-digit secret
        return f"1b2c3d4e-5f60-4a7b-8c9d-{chat_id:012x}", f"{salt}{chat_id:032X}"[-32:]
    return f"BYK{chat_id:015d}", f"BYS{salt}{chat_id:033d}"[-36:]


async def _send_key(chat: Chat, exchange: str, api_key: str, secret: str) -> list[str]:
    """Key, secret (and OKX's passphrase) into an open dialog; the bot's last two answers."""
    asked = await chat.ask(api_key)
    assert "Secret Key" in asked.text
    chat.send(secret)
    if exchange == "okx":
        assert "passphrase" in (await chat.reply()).text
        chat.send(PHRASE)
    return [(await chat.reply()).text, (await chat.reply()).text]  # checking, verdict


async def _connect(
    world: World, chat: Chat, balances: dict[str, str], targets: str = "BTC 50 ETH 30 USDT 20"
) -> str:
    exchange = _exchange(world)
    api_key, secret = _credentials(exchange, chat.chat_id)
    extra = {"passphrase": PHRASE} if exchange == "okx" else {}
    world.exchange.add_account(api_key, secret, balances, **extra)
    await chat.ask("/start")
    await open_keys(chat, NAMES[exchange])
    _checking, verdict = await _send_key(chat, exchange, api_key, secret)
    assert api_key[-4:] in verdict, verdict
    await chat.ask(f"/targets {targets}")
    return api_key


async def test_keys_dialog_refuses_a_withdraw_key_then_connects(venue_world: World) -> None:
    world, exchange = venue_world, _exchange(venue_world)
    chat = world.chat(16_001)
    extra = {"passphrase": PHRASE} if exchange == "okx" else {}
    bad_key, bad_secret = _credentials(exchange, 16_901, "9")
    world.exchange.add_account(
        bad_key, bad_secret, {"USDT": "10"}, **extra, **REFUSE_WITHDRAW[exchange]
    )
    good_key, good_secret = _credentials(exchange, 16_001)
    world.exchange.add_account(good_key, good_secret, {"USDT": "10"}, **extra)
    await chat.ask("/start")
    choice = await chat.ask("/keys")
    assert {"Binance", "OKX", "Bybit"} <= {b["text"] for b in choice.buttons}
    asked = await chat.press(choice, NAMES[exchange])
    assert f"{NAMES[exchange]} API key" in asked.text
    _checking, refused = await _send_key(chat, exchange, bad_key, bad_secret)
    assert "withdraw" in refused
    assert "again" in refused  # the dialog stays open for another key
    _checking, connected = await _send_key(chat, exchange, good_key, good_secret)
    assert good_key[-4:] in connected
    assert "spot trading" in connected
    # Every message holding key material was deleted, and nothing secret was ever echoed.
    secrets = {bad_secret, good_secret, PHRASE}
    for message in world.telegram.messages(chat.chat_id):
        assert not any(s in message.text for s in secrets)
    assert len(world.telegram.deleted[chat.chat_id]) == 2 * (3 if exchange == "okx" else 2)
    assert world.app is not None
    services = world.app.bot_data["services"]
    account = await services.accounts.find(chat.chat_id)
    stored = await services.accounts.credentials(account.user_id)
    assert stored.exchange_id == exchange
    assert stored.passphrase == (PHRASE if exchange == "okx" else None)


async def _rebalance(chat: Chat) -> str:
    preview = await chat.ask("/rebalance")
    await chat.press(preview, "Confirm")
    return (await chat.reply(timeout=30)).text


async def test_a_dry_then_a_live_rebalance(venue_world: World) -> None:
    world, exchange = venue_world, _exchange(venue_world)
    chat = world.chat(16_101)
    api_key = await _connect(world, chat, {"USDT": "1000"})
    await _rebalance(chat)  # dry-run: nothing reaches the exchange
    assert world.exchange.orders(api_key) == []
    ask = await chat.ask("/dryrun off")
    await chat.press(ask, "Yes")
    await _rebalance(chat)
    orders = world.exchange.orders(api_key)
    assert {(o.symbol, o.side) for o in orders} == {
        (("BTC", "USDT"), "buy"),
        (("ETH", "USDT"), "buy"),
    }
    for order in orders:
        assert world.exchange.order_posts(order.client_id) == 1
        if exchange == "okx":
            assert order.client_id.isalnum()
            assert len(order.client_id) <= 32
    balances = world.exchange.balances(api_key)
    assert Decimal(180) <= balances["USDT"] <= Decimal(220)  # 20 % left in the quote
    assert balances["BTC"] > 0
    assert balances["ETH"] > 0


async def test_a_lost_order_answer_never_doubles_the_order(venue_world: World) -> None:
    world = venue_world
    chat = world.chat(16_201)
    api_key = await _connect(world, chat, {"USDT": "1000"})
    ask = await chat.ask("/dryrun off")
    await chat.press(ask, "Yes")
    world.exchange.inject(world.exchange.order_path, "timeout_after", method="POST")
    await _rebalance(chat)
    orders = world.exchange.orders(api_key)
    client_ids = [o.client_id for o in orders]
    assert len(client_ids) == len(set(client_ids)) == 2  # both legs, each exactly once
    for cid in client_ids:
        assert world.exchange.order_posts(cid) == 1


async def test_the_dialog_speaks_ukrainian(venue_world: World) -> None:
    world, exchange = venue_world, _exchange(venue_world)
    chat = world.chat(16_301, language="uk")
    api_key, secret = _credentials(exchange, chat.chat_id)
    extra = {"passphrase": PHRASE} if exchange == "okx" else {}
    world.exchange.add_account(api_key, secret, {"USDT": "10"}, **extra)
    await chat.ask("/start")
    asked = await open_keys(chat, NAMES[exchange])
    assert f"API-ключ {NAMES[exchange]}" in asked.text
    assert "секретний ключ" in (await chat.ask(api_key)).text
    chat.send(secret)
    if exchange == "okx":
        assert "парольну фразу" in (await chat.reply()).text
        chat.send(PHRASE)
    await chat.reply()  # checking
    connected = await chat.reply()
    assert api_key[-4:] in connected.text
    assert CYRILLIC.search(connected.text)


async def test_a_wrong_passphrase_or_secret_is_refused_and_the_dialog_stays(
    venue_world: World,
) -> None:
    world, exchange = venue_world, _exchange(venue_world)
    chat = world.chat(16_401)
    api_key, secret = _credentials(exchange, chat.chat_id)
    world.exchange.add_account(api_key, secret, {"USDT": "10"}, passphrase="Other-phrase9")
    await chat.ask("/start")
    await open_keys(chat, NAMES[exchange])
    wrong_secret = secret if exchange == "okx" else secret[:-1] + "0"
    _checking, rejected = await _send_key(chat, exchange, api_key, wrong_secret)
    assert ("passphrase" in rejected) if exchange == "okx" else ("rejected" in rejected)
    assert "again" in rejected
    assert world.app is not None
    services = world.app.bot_data["services"]
    account = await services.accounts.find(chat.chat_id)
    assert not account.has_keys


async def test_an_unconfirmed_order_is_looked_up_and_its_outcome_told_once(
    venue_stopped: World,
) -> None:
    world = venue_stopped
    settings = world.settings.model_copy(
        update={"reconcile_interval_seconds": 1.0, "unknown_order_grace_seconds": 3.0}
    )
    world.exchange.lookup_delay = 8.0  # longer than the run's own lookups (3.5 s)
    chat = world.chat(16_501)
    async with running(settings):
        api_key = await _connect(world, chat, {"USDT": "1000"}, targets="BNB 50 USDT 50")
        ask = await chat.ask("/dryrun off")
        await chat.press(ask, "Yes")
        world.exchange.inject(world.exchange.order_path, "timeout_after", method="POST")
        report = await _rebalance(chat)
        assert "has not confirmed it yet" in report, report
        assert "not filled" not in report
        (booked,) = world.exchange.orders(api_key)
        update = await world.telegram.wait_for_message(
            chat.chat_id, predicate=lambda m: "Update on the rebalance" in m.text, timeout=30
        )
        assert "Rebalance done" in update.text
        assert "Bought" in update.text
        world.telegram.drain(chat.chat_id)
    assert world.exchange.order_posts(booked.client_id) == 1
    assert len(world.exchange.orders(api_key)) == 1

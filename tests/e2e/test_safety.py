"""Isolation and refusals: two users at once, stale and forged buttons, groups, the allow-list,
and Telegram's own faults (429, 5xx, a user who blocked the bot)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import running
from tests.e2e.conftest import World, connect, e2e_settings
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram


async def _live_rebalance(world: World, chat_id: int) -> None:
    chat = world.chat(chat_id)
    ask = await chat.ask("/dryrun off")
    await chat.press(ask, "Yes")
    preview = await chat.ask("/rebalance")
    await chat.press(preview, "Confirm")
    await chat.reply(timeout=30)


async def test_two_users_never_see_each_other(world: World) -> None:
    alice, bob = world.chat(4001), world.chat(4002)
    (key_a, _), (key_b, _) = await asyncio.gather(
        connect(alice, world, {"USDT": "1000", "BTC": "0.01"}),
        connect(bob, world, {"USDT": "3000"}, targets="ETH 50 SOL 50"),
    )
    await asyncio.gather(_live_rebalance(world, 4001), _live_rebalance(world, 4002))
    portfolio_a = await alice.ask("/portfolio")
    portfolio_b = await bob.ask("/portfolio")
    assert "SOL" not in portfolio_a.text
    assert "BNB" not in portfolio_b.text
    for chat_id, other_key in ((4001, key_b), (4002, key_a)):
        for message in world.telegram.messages(chat_id):
            assert other_key[-4:] not in message.text
    orders_a = {o.symbol for o in world.exchange.orders(key_a)}
    orders_b = {o.symbol for o in world.exchange.orders(key_b)}
    assert "SOLUSDT" in orders_b
    assert "SOLUSDT" not in orders_a
    assert "BNBUSDT" in orders_a
    assert "BNBUSDT" not in orders_b


async def test_stale_and_foreign_buttons_do_nothing(world: World) -> None:
    alice, mallory = world.chat(4101), world.chat(4102)
    await connect(alice, world, {"USDT": "1000", "BTC": "0.01"})
    await connect(mallory, world, {"USDT": "10"})
    preview = await alice.ask("/rebalance")
    confirm = preview.button("Confirm")["callback_data"]
    # Mallory replays Alice's callback data in her own chat: the signature is bound to Alice's.
    callback = mallory.press_data(preview.message_id, confirm)
    await world.telegram.wait_for(
        lambda: any(a.get("callback_query_id") == callback for a in world.telegram.answered)
    )
    answer = next(a for a in world.telegram.answered if a.get("callback_query_id") == callback)
    assert "expired" in answer.get("text", "")
    # A forged payload in Alice's own chat.
    forged = alice.press_data(preview.message_id, "rb_ok|deadbeef|000000000000")
    await world.telegram.wait_for(
        lambda: any(a.get("callback_query_id") == forged for a in world.telegram.answered)
    )
    # A newer preview makes the old Confirm stale.
    newer = await alice.ask("/rebalance")
    alice.press_data(preview.message_id, confirm)
    stale = await alice.reply()
    assert "expired" in stale.text
    assert world.exchange.count("/api/v3/order", "POST") == 0
    # The current one still works.
    await alice.press(newer, "Confirm")
    report = await alice.reply()
    assert "Dry run" in report.text


async def test_group_chats_are_refused(world: World) -> None:
    group = world.telegram.push_text(-5001, "/start", chat_type="group", user_id=77)
    message = await world.telegram.wait_for_message(-5001)
    assert "private" in message.text
    assert group
    world.telegram.push_text(-5001, "hello everyone", chat_type="group", user_id=77)
    await asyncio.sleep(0.5)
    assert len(world.telegram.messages(-5001)) == 1


async def test_allow_list(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(
            telegram,
            exchange,
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            allowed_user_ids=[5001],
            admin_ids=[5003],
        )
        async with running(settings):
            telegram.push_text(5001, "/start")
            welcome = await telegram.wait_for_message(5001)
            assert "Welcome" in welcome.text
            telegram.push_text(5002, "/start")
            refused = await telegram.wait_for_message(5002)
            assert "private" in refused.text
            telegram.push_text(5002, "/admin")
            assert "private" in (await telegram.wait_for_message(5002)).text
            telegram.push_text(5001, "/admin")
            assert "operators" in (await telegram.wait_for_message(5001)).text
            telegram.push_text(5003, "/admin")
            stats = await telegram.wait_for_message(5003)
            assert "Users: 1" in stats.text


async def test_telegram_429_and_5xx_are_retried_once(world: World) -> None:
    chat = world.chat(4201)
    world.telegram.inject("sendMessage", "429", chat_id=4201, retry_after=1)
    welcome = await chat.ask("/start", timeout=20)
    assert "Welcome" in welcome.text
    assert len([m for m in world.telegram.messages(4201) if "Welcome" in m.text]) == 1
    world.telegram.inject("sendMessage", "502", chat_id=4201)
    answer = await chat.ask("/help", timeout=20)
    assert "/start" in answer.text  # retried, not lost
    assert len([m for m in world.telegram.messages(4201) if m.text == answer.text]) == 1


async def test_blocked_user_is_marked_and_not_messaged(world: World) -> None:
    chat = world.chat(4301)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/interval 1s")
    await chat.ask("/run")
    world.telegram.block(4301)
    # The next scheduled report meets 403: the user is marked and the job skips them after.
    await world.telegram.wait_for(
        lambda: any(c.status == 403 for c in world.telegram.call_list("sendMessage")), timeout=20
    )
    assert world.app is not None
    services = world.app.bot_data["services"]
    for _attempt in range(50):  # the bot marks the user right after reading the 403
        account = await services.accounts.find(4301)
        assert account is not None
        if account.blocked_bot:
            break
        await asyncio.sleep(0.1)
    assert account.blocked_bot
    await asyncio.sleep(2.5)
    attempts = [
        c
        for c in world.telegram.call_list("sendMessage")
        if str(c.params.get("chat_id")) == "4301" and c.status == 403
    ]
    assert len(attempts) == 1

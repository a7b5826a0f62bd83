"""One user cannot slow everyone: a chat's flood waits on its own queue, not on the slots every
chat shares; updates and key checks are rate-limited per user."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.app import running
from tests.e2e.conftest import World, connect, e2e_settings, open_keys
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram


async def test_forty_slow_updates_of_one_chat_do_not_delay_another_users_help(
    world: World,
) -> None:
    flooder, bystander = world.chat(8201), world.chat(8202)
    api_key, _secret = await connect(flooder, world, {"USDT": "1000", "BTC": "0.01"})
    await bystander.ask("/start")
    # Every /portfolio of the flooder takes 0.25 s at the exchange: 40 of them, 10 s in all.
    world.exchange.inject(
        "/sapi/v3/asset/getUserAsset", "latency", count=None, api_key=api_key, delay=0.25
    )
    for _ in range(40):
        flooder.send("/portfolio")
    await asyncio.sleep(0.3)  # all 40 are in: 16 of them would hold every global slot
    started = time.monotonic()
    answer = await bystander.ask("/help", timeout=30)
    elapsed = time.monotonic() - started
    assert "/start" in answer.text
    print(f"/help answered in {elapsed:.3f} s behind 40 slow /portfolio of another chat")
    assert elapsed < 1.0, f"/help took {elapsed:.2f} s behind another chat's flood"
    first = await flooder.reply(timeout=30)
    assert "Portfolio" in first.text  # the flood is served too, in order, in its own time
    world.exchange.clear_faults()


async def test_a_flood_of_commands_gets_one_slow_down_and_no_more(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(
            telegram,
            exchange,
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            user_updates_burst=10,
            user_updates_per_minute=20,
        )
        async with running(settings):
            world = World(telegram, exchange, settings)
            flooder, bystander = world.chat(8301), world.chat(8302)
            for _ in range(30):
                flooder.send("/help")
            bystander.send("/help")
            assert "/start" in (await bystander.reply()).text
            await asyncio.sleep(2.0)
            texts = [m.text for m in telegram.messages(8301)]
            helps = [t for t in texts if "/start" in t]
            slow = [t for t in texts if "too fast" in t]
            assert 10 <= len(helps) <= 11, len(helps)  # the burst, and what refilled meanwhile
            assert len(slow) == 1
            assert "second" in slow[0]
            assert len(texts) == len(helps) + 1  # the rest dropped without a word


async def test_key_checks_are_limited_to_five_an_hour(world: World) -> None:
    chat = world.chat(8401)
    await chat.ask("/start")
    junk = [(f"{i}" * 64, f"{i}{i}".ljust(64, "x")) for i in range(1, 7)]
    for api_key, secret in junk[:5]:
        await open_keys(chat)
        await chat.ask(api_key)
        chat.send(secret)
        assert "Checking" in (await chat.reply()).text
        assert "rejected" in (await chat.reply()).text
    refused = await chat.ask("/keys")
    assert "Too many key checks" in refused.text
    assert "minutes" in refused.text
    assert not refused.buttons  # no dialog opened for a check that would be refused
    reached = {r.api_key for r in world.exchange.requests if r.api_key}
    assert reached == {api_key for api_key, _secret in junk[:5]}


async def test_keys_pasted_in_a_flood_are_all_deleted_without_a_reply_each(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(
            telegram,
            exchange,
            caps,
            f"sqlite+aiosqlite:///{tmp_path}/bot.db",
            user_updates_burst=2,
            user_updates_per_minute=1,
        )
        async with running(settings):
            sent = [telegram.push_text(8311, f"{i:02d}" * 32) for i in range(8)]
            await telegram.wait_for(lambda: len(telegram.deleted[8311]) == len(sent), timeout=10)
            await asyncio.sleep(0.5)
            assert sorted(telegram.deleted[8311]) == sorted(sent)  # never dropped: all deleted
            assert len(telegram.messages(8311)) <= 3  # the burst's replies and one slow-down

"""The rest of UX.md end to end: language, index, notify, settings, key dialog mistakes,
deleting keys and the account, and a key that stops working while automation runs."""

from __future__ import annotations

import asyncio

from tests.e2e.conftest import World, connect, open_keys


async def test_language_switch_changes_replies_and_menu(world: World) -> None:
    chat = world.chat(8001)
    await chat.ask("/start")
    prompt = await chat.ask("/language")
    changed = await chat.press(prompt, "Українська")
    assert "українську" in changed.text
    status = await chat.ask("/status")
    assert "Авто ВИМК" in status.text  # the home screen, in Ukrainian
    menus = [key for key in world.telegram.commands if '"chat_id": 8001' in key[0]]
    assert menus
    assert any("Зареєструватися" in c["description"] for c in world.telegram.commands[menus[0]])
    assert world.telegram.menu("uk")  # the Ukrainian default menu registered at start-up
    assert world.telegram.menu("")


async def test_index_notify_threshold_and_settings(world: World) -> None:
    chat = world.chat(8002)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    index = await chat.ask("/index 5 cap 40 exclude DOGE")
    assert "BTC" in index.text
    weights = [line for line in index.text.splitlines() if line.startswith("• ")]
    assert not [line for line in weights if "USDT" in line]  # stablecoins are no weight
    assert "DOGE" not in index.text.split("\n", 1)[1]
    notify = await chat.ask("/notify")
    chosen = await chat.press(notify, "errors only")
    assert "errors only" in chosen.text
    assert "5" in (await chat.ask("/threshold 2,5")).text
    menu = await chat.ask("/settings")
    assert "errors only" in menu.text
    interval = await chat.press(menu, "Interval")
    preset = await chat.press(interval, "4h")
    assert "4 hours" in preset.text


async def test_key_dialog_mistakes_and_cancel(world: World) -> None:
    chat = world.chat(8003)
    world.exchange.add_account("W" * 64, "X" * 64, {"USDT": "10"}, enableWithdrawals=True)
    await chat.ask("/start")
    asked = await open_keys(chat)
    assert "Binance API key" in asked.text
    assert "/cancel" in asked.text
    bad = chat.send("not a key")
    answer = await chat.reply()
    assert "does not look like an API key" in answer.text
    assert bad in world.telegram.deleted[8003]
    await chat.ask("W" * 64)
    chat.send("X" * 64)
    await chat.reply()  # checking
    refused = await chat.reply()
    assert "withdraw" in refused.text
    assert "Send the API key again" in refused.text  # the dialog stays open
    status = await chat.ask("/status")
    assert "not connected" in status.text  # nothing stored
    world.exchange.add_account("G" * 64, "H" * 64, {"USDT": "10"})
    asked = await chat.ask("G" * 64)  # no /keys again: the dialog waited for the next key
    assert "Secret Key" in asked.text
    chat.send("H" * 64)
    await chat.reply()  # checking
    connected = await chat.reply()
    assert "Connected Binance" in connected.text
    assert "Permissions: reading, spot trading" in connected.text
    assert "IP" not in connected.text  # PUBLIC_IP is not set: no tip with a useless address
    await chat.ask("/keys")
    cancelled = await chat.ask("/cancel")
    assert "Cancelled" in cancelled.text
    assert "nothing to cancel" in (await chat.ask("/cancel")).text


async def test_delete_keys_and_delete_me(world: World) -> None:
    chat = world.chat(8004)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    ask = await chat.ask("/deletekeys")
    done = await chat.press(ask, "Yes")
    assert "deleted" in done.text
    assert "not connected" in (await chat.ask("/status")).text
    ask = await chat.ask("/deleteme")
    erased = await chat.press(ask, "Yes")
    assert "erased" in erased.text
    assert "/start" in (await chat.ask("/status")).text
    assert world.app is not None
    assert await world.app.bot_data["services"].accounts.find(8004) is None


async def test_a_key_that_stops_working_pauses_automation(world: World) -> None:
    chat = world.chat(8005)
    api_key, _secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/interval 1s")
    await chat.ask("/run")
    del world.exchange.accounts[api_key]  # the user deleted the key on the exchange
    paused = await world.telegram.wait_for_message(
        8005, predicate=lambda m: "paused" in m.text, timeout=20
    )
    assert "/keys" in paused.text
    await asyncio.sleep(0.5)
    status = await chat.ask("/status")
    assert "paused" in status.text


async def test_cmc_key_is_checked_before_it_is_saved(world: World) -> None:
    from tests.fakes.marketcap import CMC, DEFAULT_CMC_KEY

    assert world.caps is not None
    chat = world.chat(8006)
    await chat.ask("/start")
    rejected = await chat.ask("/cmckey " + "q" * 24)
    assert "rejected" in rejected.text
    assert world.app is not None
    accounts = world.app.bot_data["services"].accounts
    account = await accounts.find(8006)
    assert account is not None
    assert not account.has_cmc_key
    await chat.ask("/cmckey")
    before = world.caps.requests[CMC]
    saved = await chat.ask(DEFAULT_CMC_KEY)
    assert "saved" in saved.text
    assert world.caps.requests[CMC] == before + 1  # one request checked it
    account = await accounts.find(8006)
    assert account is not None
    assert account.has_cmc_key

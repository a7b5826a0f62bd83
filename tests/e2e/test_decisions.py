"""Automation and live trading start only when the user says so: /next only sets a time, /run
re-checks a key the bot paused as broken, and new keys start in dry-run."""

from __future__ import annotations

import asyncio

from bot import jobs
from tests.e2e.conftest import Chat, World, connect, open_keys


def _job_time(world: World) -> object:
    assert world.app is not None
    return jobs.next_run_time(world.app, 1)


async def _reconnect(chat: Chat, api_key: str, secret: str) -> str:
    """The /keys dialog again with a key the exchange knows; returns the bot's answer."""
    await open_keys(chat)
    await chat.ask(api_key)
    chat.send(secret)
    await chat.reply()  # checking
    return (await chat.reply()).text


async def test_next_with_automation_off_asks_before_starting_it(world: World) -> None:
    chat = world.chat(5401)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    asked = await chat.ask("/next 23:59")
    assert "23:59" in asked.text
    assert "Also start automatic rebalancing?" in asked.text
    assert "is on" not in asked.text
    assert _job_time(world) is None  # nothing scheduled by setting a time
    status = await chat.ask("/status")
    assert status.text.startswith("<b>Auto OFF"), status.text
    kept_off = await chat.press(asked, "No")
    assert "stays off" in kept_off.text
    assert _job_time(world) is None
    shown = await chat.ask("/next")
    assert "23:59" in shown.text  # the time is kept for /run
    asked = await chat.ask("/next 23:59")
    started = await chat.press(asked, "Yes")
    assert started.text.startswith("Auto ON · DRY RUN · every "), started.text
    assert "next " in started.text
    assert "23:59" in started.text
    job_time = _job_time(world)
    assert job_time is not None
    assert job_time.strftime("%H:%M") == "23:59"  # type: ignore[attr-defined]
    moved = await chat.ask("/next 22:30")  # running: only the time moves, nothing asked
    assert "22:30" in moved.text
    assert not moved.buttons


async def test_next_without_keys_sets_the_time_and_says_what_run_needs(world: World) -> None:
    chat = world.chat(5402)
    await chat.ask("/start")
    answer = await chat.ask("/next 23:59")
    assert "23:59" in answer.text
    assert "/keys" in answer.text
    assert not answer.buttons


async def test_run_rechecks_a_key_the_bot_paused_as_broken(world: World) -> None:
    chat = world.chat(5403)
    balances = {"USDT": "1000", "BTC": "0.01"}
    api_key, secret = await connect(chat, world, balances)
    await chat.ask("/interval 1s")
    await chat.ask("/run")
    del world.exchange.accounts[api_key]  # the key is dead at the exchange
    await world.telegram.wait_for_message(
        chat.chat_id, predicate=lambda m: "paused" in m.text, timeout=20
    )
    await asyncio.sleep(0.5)
    reads = world.exchange.count("/sapi/v3/asset/getUserAsset")
    refused = await chat.ask("/run")
    assert "still fails" in refused.text
    assert "/keys" in refused.text
    assert world.exchange.count("/sapi/v3/asset/getUserAsset") == reads + 1  # one balance read
    assert _job_time(world) is None
    assert "paused" in (await chat.ask("/status")).text
    world.exchange.add_account(api_key, secret, balances)  # the user fixed it at the exchange
    started = await chat.ask("/run")
    assert started.text.startswith("Auto ON"), started.text
    assert _job_time(world) is not None
    status = await chat.ask("/status")
    assert status.text.startswith("<b>Auto ON"), status.text
    assert "paused" not in status.text


async def test_keys_connected_again_after_deletekeys_start_in_dry_run(world: World) -> None:
    chat = world.chat(5404)
    api_key, secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/interval 4h")
    prompt = await chat.ask("/dryrun off")
    live = await chat.press(prompt, "Yes")
    assert live.text.startswith("Auto OFF · LIVE"), live.text
    started = await chat.ask("/run")
    assert started.text.startswith("Auto ON · LIVE · every 4 hr · next "), started.text
    ask = await chat.ask("/deletekeys")
    await chat.press(ask, "Yes")
    connected = await _reconnect(chat, api_key, secret)
    assert "dry-run" in connected
    assert "· DRY RUN" in (await chat.ask("/status")).text
    started = await chat.ask("/run")
    assert started.text.startswith("Auto ON · DRY RUN"), started.text
    preview = await chat.ask("/rebalance")
    assert "DRY RUN" in preview.text
    await chat.press(preview, "Confirm")
    await chat.reply(timeout=20)
    assert world.exchange.orders(api_key) == []


async def test_the_mode_line_in_ukrainian(world: World) -> None:
    chat = world.chat(5405, language="uk")
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/interval 4h")
    prompt = await chat.ask("/dryrun off")
    await chat.press(prompt, "Так")
    started = await chat.ask("/run")
    assert started.text.startswith("Авто УВІМК. · РЕАЛЬНА ТОРГІВЛЯ · раз на 4 год · далі ")

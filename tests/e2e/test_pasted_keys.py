"""Keys pasted where they do not belong are deleted and answered; a delete that fails is told,
with what to do, and the key dialog never carries on as if the secret were gone."""

from __future__ import annotations

import asyncio

from bot.handlers import dialogs
from tests.e2e.conftest import World, open_keys

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


async def _pasted(world: World, chat_id: int, text: str) -> tuple[int, str]:
    chat = world.chat(chat_id)
    message_id = chat.send(text)
    return message_id, (await chat.reply()).text


async def test_a_key_pasted_outside_the_dialog_is_deleted(world: World) -> None:
    await world.chat(8601).ask("/start")
    message_id, answer = await _pasted(world, 8601, f"here is my key {KEY}")
    assert message_id in world.telegram.deleted[8601]
    assert "deleted it" in answer
    assert "/keys" in answer


async def test_keys_with_key_and_secret_on_one_line_is_deleted(world: World) -> None:
    await world.chat(8602).ask("/start")
    message_id, answer = await _pasted(world, 8602, f"/keys {KEY} {SECRET}")
    assert message_id in world.telegram.deleted[8602]
    assert "deleted it" in answer
    # Shorter key material after /keys is deleted too, and the dialog starts as usual.
    message_id, answer = await _pasted(world, 8602, "/keys my-key-0123456789 my-secret-0123456")
    assert message_id in world.telegram.deleted[8602]
    assert "deleted it" in answer
    assert "Which exchange" in (await world.chat(8602).reply()).text  # then the dialog starts


async def test_a_key_pasted_right_after_keys_is_deleted(world: World) -> None:
    # One exchange offered: /keys asks for the key at once, so this is the key, and it goes.
    chat = world.chat(8603)
    await chat.ask("/start")
    await open_keys(chat)
    message_id, answer = await _pasted(world, 8603, KEY)
    assert message_id in world.telegram.deleted[8603]
    assert "Secret Key" in answer


async def test_a_failed_delete_outside_the_dialog_says_delete_and_regenerate(
    world: World,
) -> None:
    await world.chat(8604).ask("/start")
    world.telegram.inject("deleteMessage", "400", chat_id=8604)
    message_id, answer = await _pasted(world, 8604, KEY)
    assert message_id not in world.telegram.deleted[8604]
    assert "could not delete" in answer
    assert "regenerate" in answer


async def test_in_a_group_the_key_is_deleted_or_the_reply_says_to_revoke_it(
    world: World,
) -> None:
    group = -8605
    message_id = world.telegram.push_text(
        group, f"/keys {KEY} {SECRET}", chat_type="group", user_id=77
    )
    answer = await world.telegram.wait_for_message(group)
    assert message_id in world.telegram.deleted[group]
    assert "regenerate" in answer.text
    world.telegram.inject("deleteMessage", "400", chat_id=group)
    message_id = world.telegram.push_text(group, f"/start {KEY}", chat_type="group", user_id=77)
    answer = await world.telegram.wait_for_message(group)
    assert message_id not in world.telegram.deleted[group]
    assert "revoke" in answer.text


async def test_the_dialog_stops_when_the_secret_cannot_be_deleted(world: World) -> None:
    chat = world.chat(8606)
    world.exchange.add_account(KEY, SECRET, {"USDT": "100"})
    await chat.ask("/start")
    await open_keys(chat)
    world.telegram.inject("deleteMessage", "400", chat_id=8606)
    asked = await chat.ask(KEY)  # the key's message stays: the user is told, the dialog goes on
    assert "delete it yourself" in asked.text
    assert "secret" in asked.text.lower()
    world.telegram.inject("deleteMessage", "400", chat_id=8606)
    answer = await chat.ask(SECRET)
    assert "did not save" in answer.text
    assert "regenerate" in answer.text
    await asyncio.sleep(0.5)
    assert not [m for m in world.telegram.drain(8606) if "Connected" in m.text]
    assert world.app is not None
    account = await world.app.bot_data["services"].accounts.find(8606)
    assert account is not None
    assert not account.has_keys
    assert not [r for r in world.exchange.requests if r.api_key == KEY]


async def test_a_cmc_key_whose_message_stays_is_not_saved(world: World) -> None:
    chat = world.chat(8607)
    await chat.ask("/start")
    world.telegram.inject("deleteMessage", "400", chat_id=8607)
    answer = await chat.ask("/cmckey 0c9a4b2e-5d6f-4a1b-8c3d-2e4f6a8b0c1d")
    assert "did not save" in answer.text
    assert world.app is not None
    account = await world.app.bot_data["services"].accounts.find(8607)
    assert account is not None
    assert not account.has_cmc_key


async def test_a_secret_sent_after_the_dialog_timed_out_that_stays_is_told(
    world: World,
) -> None:
    chat = world.chat(8608)
    await chat.ask("/start")
    await open_keys(chat)
    assert world.app is not None
    dialog = world.app.chat_data[8608][dialogs.DIALOG_KEY]
    dialog.started -= dialogs.DIALOG_TIMEOUT_SECONDS + 1  # the user comes back too late
    world.telegram.inject("deleteMessage", "400", chat_id=8608)
    answer = await chat.ask("short-secret-text-0001")
    assert "could not delete" in answer.text
    assert "timed out" in (await chat.reply()).text

"""Reports survive a Bot API that fails for a while: retried, never sent twice, at worst sent
after the next start."""

from __future__ import annotations

import pytest

from bot.app import running
from tests.e2e.conftest import World, connect


def _sends(world: World, chat_id: int, status: int) -> int:
    return len(
        [
            c
            for c in world.telegram.call_list("sendMessage")
            if str(c.params.get("chat_id")) == str(chat_id) and c.status == status
        ]
    )


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_report_survives_two_502s_and_arrives_once(world: World, language: str) -> None:
    chat = world.chat(6101 if language == "en" else 6102, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/interval 3s")
    world.telegram.inject("sendMessage", "502", count=2, chat_id=chat.chat_id)
    await chat.ask("/run")  # the /run answer itself rides out the two 502s
    assert _sends(world, chat.chat_id, 502) == 2
    world.telegram.inject("sendMessage", "502", count=2, chat_id=chat.chat_id)
    report = await chat.reply(timeout=30)  # the first scheduled run
    await chat.ask("/stop")
    assert _sends(world, chat.chat_id, 502) == 4
    same = [m for m in world.telegram.messages(chat.chat_id) if m.text == report.text]
    assert len(same) == 1
    assert world.exchange.count("/api/v3/order", "POST") == 0


async def test_report_that_never_went_out_is_sent_after_restart(stopped_world: World) -> None:
    world = stopped_world
    chat = world.chat(6103)
    async with running(world.settings):
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        await chat.ask("/interval 3s")
        await chat.ask("/run")
        world.telegram.inject("sendMessage", "502", count=5, chat_id=chat.chat_id)
        await world.telegram.wait_for(lambda: _sends(world, chat.chat_id, 502) >= 5, timeout=30)
        await chat.ask("/stop")  # the next send goes through: the first report was let go
    assert _sends(world, chat.chat_id, 502) == 5  # a few attempts, then left for later
    assert not [m for m in world.telegram.messages(chat.chat_id) if "Scheduled run #1<" in m.text]
    world.telegram.drain(chat.chat_id)
    async with running(world.settings):
        await world.telegram.wait_for(
            lambda: any(
                "Scheduled run #1<" in m.text for m in world.telegram.messages(chat.chat_id)
            ),
            timeout=20,
        )
    reports = [m for m in world.telegram.messages(chat.chat_id) if "Scheduled run #1<" in m.text]
    assert len(reports) == 1

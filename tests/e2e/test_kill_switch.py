"""/admin pause stops all trading at once, refuses /run and Confirm, survives a restart, and
only /admin resume undoes it."""

from __future__ import annotations

from pathlib import Path

from bot.app import running
from tests.e2e.conftest import World, connect

ADMIN = 4242


async def test_the_kill_switch_holds_across_a_restart(stopped_world: World, tmp_path: Path) -> None:
    world = stopped_world
    settings = world.settings.model_copy(update={"admin_ids": [ADMIN]})
    chat, admin = world.chat(5201), world.chat(ADMIN)
    async with running(settings):
        api_key, _secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        prompt = await chat.ask("/dryrun off")
        await chat.press(prompt, "Yes")
        preview = await chat.ask("/rebalance")  # shown before the switch is thrown
        await admin.ask("/start")
        paused = await admin.ask("/admin pause")
        assert "Paused" in paused.text
        refused = await chat.press(preview, "Confirm")
        assert "paused by the bot's operator" in refused.text
        run = await chat.ask("/run")
        assert "paused by the bot's operator" in run.text
    async with running(settings):  # a restart does not turn it off
        stats = await admin.ask("/admin")
        assert "ON" in stats.text
        preview = await chat.ask("/rebalance")
        refused = await chat.press(preview, "Confirm")
        assert "paused by the bot's operator" in refused.text
        assert world.exchange.orders(api_key) == []
        resumed = await admin.ask("/admin resume")
        assert "Resumed" in resumed.text
        preview = await chat.ask("/rebalance")
        await chat.press(preview, "Confirm")
        done = await chat.reply(timeout=20)
        assert "Rebalance done" in done.text, done.text
        assert world.exchange.orders(api_key)

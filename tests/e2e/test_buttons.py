"""Buttons expire: an old confirmation pressed later changes nothing and says so."""

from __future__ import annotations

import time

from tests.e2e.conftest import World


async def test_an_old_trade_for_real_button_is_refused(world: World) -> None:
    chat = world.chat(8101)
    await chat.ask("/start")
    ask = await chat.ask("/dryrun off")
    yes = ask.button("Yes")["callback_data"]
    assert world.app is not None
    signer = world.app.bot_data["signer"]
    signer.clock = lambda: time.time() + 3600  # the user comes back an hour later
    callback = chat.press_data(ask.message_id, yes)
    await world.telegram.wait_for(
        lambda: any(a.get("callback_query_id") == callback for a in world.telegram.answered)
    )
    answer = next(a for a in world.telegram.answered if a.get("callback_query_id") == callback)
    assert "expired" in answer.get("text", "")
    account = await world.app.bot_data["services"].accounts.find(8101)
    assert account is not None
    assert account.dry_run  # still simulating
    assert world.telegram.drain(8101) == []  # nothing announced a change
    # A fresh confirmation, pressed at once, still works.
    ask = await chat.ask("/dryrun off")
    done = await chat.press(ask, "Yes")
    assert "LIVE" in done.text or "real" in done.text

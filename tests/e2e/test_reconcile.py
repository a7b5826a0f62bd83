"""Through the bot: an order whose answer was lost is reported as unconfirmed, looked up by
the periodic reconciliation, and the user is told the outcome once; scheduled runs that keep
failing for a reason of ours pause automation with a message."""

from __future__ import annotations

from bot.app import running
from tests.e2e.conftest import World, connect


async def _go_live(chat: object, world: World) -> None:
    prompt = await chat.ask("/dryrun off")  # type: ignore[attr-defined]
    await chat.press(prompt, "Yes")  # type: ignore[attr-defined]


async def test_an_unconfirmed_order_is_looked_up_and_its_outcome_told_once(
    stopped_world: World,
) -> None:
    world = stopped_world
    settings = world.settings.model_copy(
        update={"reconcile_interval_seconds": 1.0, "unknown_order_grace_seconds": 3.0}
    )
    world.exchange.lookup_delay = 8.0  # longer than the run's own lookups (3.5 s)
    chat = world.chat(5101)
    async with running(settings):
        api_key, _secret = await connect(chat, world, {"USDT": "1000"}, targets="BNB 50 USDT 50")
        await _go_live(chat, world)
        world.exchange.inject("/api/v3/order", "timeout_after", method="POST")
        preview = await chat.ask("/rebalance")
        await chat.press(preview, "Confirm")  # "Placing orders…"
        report = await chat.reply(timeout=20)
        assert "has not confirmed it yet" in report.text, report.text
        assert "not filled" not in report.text
        (booked,) = world.exchange.orders(api_key)
        update = await world.telegram.wait_for_message(
            chat.chat_id, predicate=lambda m: "Update on the rebalance" in m.text, timeout=30
        )
        assert "Rebalance done" in update.text
        assert "Bought" in update.text
        history = await chat.ask("/history")
        assert "succeeded" in history.text
        world.telegram.drain(chat.chat_id)
    assert world.exchange.order_posts(booked.client_order_id) == 1
    # Told once: a restart does not tell it again.
    async with running(settings):
        status = await chat.ask("/status")
        assert "Update on the rebalance" not in status.text
        await chat.ask("/help")
    assert not [m for m in world.telegram.sent[chat.chat_id] if "Update on the" in m.text][1:]


async def test_scheduled_runs_that_keep_failing_pause_automation(stopped_world: World) -> None:
    """Three scheduled runs in a row refused for a reason no outage explains (here the
    exchange keeps refusing our clock): automation pauses, and the user is told why."""
    world = stopped_world
    chat = world.chat(5102)
    async with running(world.settings):
        await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        world.exchange.inject(
            "/sapi/v3/asset/getUserAsset",
            "code",
            code=-1021,
            status=400,
            msg="Timestamp for this request is outside of the recvWindow.",
            count=None,
        )
        await chat.ask("/interval 1s")
        await chat.ask("/run")
        failures = [
            await world.telegram.wait_for_message(
                chat.chat_id, predicate=lambda m: "time on our server" in m.text, timeout=30
            )
            for _ in range(3)
        ]
        assert "paused" in failures[-1].text
        assert "paused" not in failures[0].text
        status = await chat.ask("/status")
        assert "the last runs failed" in status.text

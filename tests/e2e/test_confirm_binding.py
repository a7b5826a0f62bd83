"""A Confirm runs only the preview it was shown on: a changed mode, target or balance since
then gets a fresh preview instead of trades, and a restart does not break a Confirm."""

from __future__ import annotations

from decimal import Decimal

from bot.app import running
from tests.e2e.conftest import Chat, World, connect
from tests.fakes.telegram import SentMessage


async def _fresh_preview(chat: Chat) -> SentMessage:
    """The new preview sent after a Confirm that no longer matched (the confirmed one is kept,
    marked as not traded)."""
    return await chat.telegram.wait_for_message(
        chat.chat_id, predicate=lambda m: "Things changed" in m.text, timeout=20
    )


async def test_a_dry_run_preview_confirmed_after_going_live_trades_nothing(world: World) -> None:
    chat = world.chat(5301)
    api_key, _secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    preview = await chat.ask("/rebalance")
    assert "DRY RUN" in preview.text
    prompt = await chat.ask("/dryrun off")
    await chat.press(prompt, "Yes")
    await chat.press(preview, "Confirm")  # the stale dry-run Confirm
    fresh = await _fresh_preview(chat)
    assert "Things changed" in fresh.text
    assert "LIVE" in fresh.text
    assert world.exchange.orders(api_key) == []
    await chat.press(fresh, "Confirm")  # what they see now, confirmed: it trades
    done = await chat.reply(timeout=20)
    assert "Rebalance done" in done.text
    assert world.exchange.orders(api_key)


async def test_new_targets_or_a_deposit_inside_the_window_get_a_fresh_preview(
    world: World,
) -> None:
    chat = world.chat(5302)
    api_key, _secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    prompt = await chat.ask("/dryrun off")
    await chat.press(prompt, "Yes")
    preview = await chat.ask("/rebalance")
    await chat.ask("/targets BTC 60 ETH 20 BNB 10 USDT 10")
    await chat.press(preview, "Confirm")
    fresh = await _fresh_preview(chat)
    assert "Things changed" in fresh.text
    assert world.exchange.orders(api_key) == []
    world.exchange.accounts[api_key].balances["USDT"] += Decimal(5000)  # a deposit
    await chat.press(fresh, "Confirm")
    again = await _fresh_preview(chat)
    assert "Things changed" in again.text
    assert world.exchange.orders(api_key) == []


async def test_a_confirm_survives_a_restart(stopped_world: World) -> None:
    world = stopped_world
    chat = world.chat(5303)
    async with running(world.settings):
        api_key, _secret = await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
        prompt = await chat.ask("/dryrun off")
        await chat.press(prompt, "Yes")
        preview = await chat.ask("/rebalance")
    async with running(world.settings):
        await chat.press(preview, "Confirm")
        done = await chat.reply(timeout=20)
        assert "Rebalance done" in done.text, done.text
        assert world.exchange.orders(api_key)
        # Used once: the same button again runs nothing more.
        before = len(world.exchange.orders(api_key))
        again = await chat.press(preview, "Confirm")
        assert "expired" in again.text
        assert len(world.exchange.orders(api_key)) == before

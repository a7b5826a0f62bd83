"""/settings is one message that changes in place, and the main menu edits its own message:
no new message per tap, every button press answered exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.e2e.conftest import Chat, World, connect
from tests.fakes.telegram import SentMessage


async def _tap(chat: Chat, message: SentMessage, label: str) -> SentMessage:
    """Press a button and expect the same message edited, nothing new in the chat."""
    changed = await chat.press(message, label)
    assert changed.kind == "edit", (label, changed.text)
    assert changed.message_id == message.message_id
    return changed


def _answers(world: World) -> Counter[str]:
    return Counter(str(a.get("callback_query_id")) for a in world.telegram.answered)


async def _settled(world: World, chat: Chat) -> list[SentMessage]:
    await asyncio.sleep(0.3)
    return world.telegram.drain(chat.chat_id)


async def test_settings_round_trip_edits_one_message(world: World) -> None:
    chat = world.chat(8301)
    await chat.ask("/start")
    summary = await chat.ask("/settings")
    assert "Interval: 1 day" in summary.text

    interval = await _tap(chat, summary, "Interval")
    assert "✓ 1d" in [b["text"] for b in interval.buttons]
    summary = await _tap(chat, interval, "4h")
    assert "Interval set to 4 hours." in summary.text
    assert "Interval: 4 hours" in summary.text

    threshold = await _tap(chat, summary, "Threshold")
    assert "✓ 5 pp" in [b["text"] for b in threshold.buttons]
    summary = await _tap(chat, threshold, "10 pp")
    assert "Threshold: 10 points" in summary.text

    notify = await _tap(chat, summary, "Notifications")
    summary = await _tap(chat, notify, "errors only")
    assert "Notifications: errors only" in summary.text

    timezone = await _tap(chat, summary, "Timezone")
    back = await _tap(chat, timezone, "« Back")
    assert "Timezone: UTC" in back.text
    timezone = await _tap(chat, back, "Timezone")
    summary = await _tap(chat, timezone, "Kyiv")
    assert "Timezone: Europe/Kyiv" in summary.text

    assert await _settled(world, chat) == []  # not one new message
    assert set(_answers(world).values()) == {1}
    account = await world.app.bot_data["services"].accounts.find(8301)  # type: ignore[union-attr]
    assert account is not None
    assert account.interval_seconds == 14400
    assert account.timezone == "Europe/Kyiv"


async def test_language_and_live_trading_from_settings(world: World) -> None:
    chat = world.chat(8302)
    await chat.ask("/start")
    summary = await chat.ask("/settings")
    mode = await _tap(chat, summary, "Dry-run")
    assert "✓ Dry-run" in [b["text"] for b in mode.buttons]
    ask = await _tap(chat, mode, "Live trading")
    assert "LIVE" in ask.text
    summary = await _tap(chat, ask, "Yes")
    assert "Mode: LIVE trading" in summary.text

    language = await _tap(chat, summary, "Language")
    summary = await _tap(chat, language, "Українська")
    assert "Мова: українська" in summary.text
    assert "<b>Налаштування</b>" in summary.text
    interval = await _tap(chat, summary, "Інтервал")
    labels = [b["text"] for b in interval.buttons]
    assert "✓ 1 день" in labels
    assert "4 год" in labels
    assert "1 тиж" in labels
    assert await _settled(world, chat) == []
    assert set(_answers(world).values()) == {1}


async def test_timezone_guess_from_the_telegram_language(world: World) -> None:
    chat = world.chat(8303, language="pl")
    await chat.ask("/start")
    summary = await chat.ask("/settings")
    timezone = await _tap(chat, summary, "Timezone")
    assert [b["text"] for b in timezone.buttons][:3] == ["Kyiv", "✓ UTC", "Warsaw"]
    summary = await _tap(chat, timezone, "Warsaw")
    assert "Timezone: Europe/Warsaw" in summary.text


async def test_main_menu_edits_its_message_and_answers_once(world: World) -> None:
    chat = world.chat(8304)
    menu = await chat.ask("/start")
    # No keys yet: Portfolio shows the paper wallet, Rebalance says what is missing, each in
    # the menu's message.
    portfolio = await _tap(chat, menu, "Portfolio")
    assert "paper wallet" in portfolio.text
    menu = await _tap(chat, portfolio, "« Menu")
    rebalance = await _tap(chat, menu, "Rebalance")
    assert "first" in rebalance.text
    menu = await _tap(chat, rebalance, "« Menu")
    settings = await _tap(chat, menu, "Settings")
    assert "<b>Settings</b>" in settings.text
    menu = await _tap(chat, settings, "« Menu")
    helped = await _tap(chat, menu, "Help")
    assert "/settings" in helped.text
    assert await _settled(world, chat) == []
    answers = _answers(world)
    assert len(answers) == 7
    assert set(answers.values()) == {1}


async def test_connected_portfolio_and_rebalance_from_the_menu(world: World) -> None:
    chat = world.chat(8305)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    menu = await chat.ask("/start")
    portfolio = await _tap(chat, menu, "Portfolio")
    assert "BTC" in portfolio.text
    menu = await _tap(chat, portfolio, "« Menu")
    preview = await _tap(chat, menu, "Rebalance")
    assert preview.button("Confirm")
    assert await _settled(world, chat) == []
    assert set(_answers(world).values()) == {1}

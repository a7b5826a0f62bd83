"""Dry runs that evolve, pushes with buttons, runs opened from /history, the preview kept as
a record, the home screen and holdings without targets, in English and Ukrainian."""

from __future__ import annotations

import asyncio
import html
import re
from typing import Any

import pytest

from tests.e2e.conftest import CYRILLIC, Chat, World, connect, open_keys
from tests.fakes.telegram import SentMessage

WORDS = {
    "en": {
        "confirm": "Confirm",
        "details": "Details",
        "pause": "Pause auto",
        "scheduled": "Scheduled run #",
        "manual": "Manual run #",
        "auto_off": "Auto OFF",
        "dry": "DRY RUN",
        "of_points": r"Largest drift: \d+[.,]\d of 5 points",
        "history": "History",
        "no_targets": "No targets yet",
        "value": "Portfolio value:",
        "last_run": "Last run: #1",
        "page2": "(page 2 of",
        "stopped": "off",
    },
    "uk": {
        "confirm": "Підтвердити",
        "details": "Подробиці",
        "pause": "Призупинити авто",
        "scheduled": "Запуск за розкладом №",
        "manual": "Запуск вручну №",
        "auto_off": "Авто ВИМК",
        "dry": "ТЕСТОВИЙ РЕЖИМ",
        "of_points": r"Найбільше відхилення: \d+[.,]\d з 5 в\. п\.",
        "history": "Історія",
        "no_targets": "Цілей ще немає",
        "value": "Вартість портфеля:",
        "last_run": "Останній запуск: #1",
        "page2": "(сторінка 2 з",
        "stopped": "вимкнено",
    },
}


def pre_lines(text: str) -> list[str]:
    """The lines of every <pre> table, as the phone shows them."""
    blocks = re.findall(r"<pre>(.*?)</pre>", text, flags=re.DOTALL)
    return [html.unescape(line) for block in blocks for line in block.split("\n")]


def assert_fits_a_phone(text: str) -> None:
    lines = pre_lines(text)
    assert lines, text
    for line in lines:
        assert len(line) <= 32, (len(line), line)
        assert "-0.0" not in line, line
        assert "-0,0" not in line, line


async def user_id(world: World, chat: Chat) -> int:
    assert world.app is not None
    account = await world.app.bot_data["services"].accounts.find(chat.chat_id)
    assert account is not None
    return int(account.user_id)


async def wait_runs(world: World, uid: int, count: int, timeout: float = 40) -> None:
    assert world.app is not None
    history = world.app.bot_data["services"].history
    async with asyncio.timeout(timeout):
        while (await history.page(uid)).total < count:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.2)


def trades(result: Any) -> list[tuple[str, str]]:
    return [(o.side, o.symbol) for o in result.orders if o.filled > 0]


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_scheduled_dry_runs_evolve_push_buttons_and_history(
    world: World, language: str
) -> None:
    words = WORDS[language]
    chat = world.chat(7101 if language == "en" else 7102, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    uid = await user_id(world, chat)
    await chat.ask("/interval 1s")
    await chat.ask("/run")
    push = await world.telegram.wait_for_message(
        chat.chat_id, predicate=lambda m: words["scheduled"] in m.text, timeout=30
    )
    assert words["scheduled"] + "1" in push.text
    assert words["details"] in str(push.buttons)
    assert words["pause"] in str(push.buttons)
    await wait_runs(world, uid, 7)
    chat.press_data(push.message_id, push.button(words["pause"])["callback_data"])
    await world.telegram.wait_for_message(
        chat.chat_id,
        predicate=lambda m: words["stopped"] in m.text and "#" not in m.text,
        timeout=20,
    )
    assert world.exchange.count("/api/v3/order", "POST") == 0  # paper only

    # Three scheduled dry runs in a row: the paper wallet moved, so the later ones do not buy
    # the same again.
    assert world.app is not None
    history = world.app.bot_data["services"].history
    first, second, third = [await history.run(uid, n) for n in (1, 2, 3)]
    assert trades(first)
    assert trades(second) != trades(first)
    assert trades(third) != trades(first)
    assert first.value_after is not None

    world.telegram.drain(chat.chat_id)
    details = await chat.press(push, words["details"])
    assert words["scheduled"] + "1" in details.text
    assert_fits_a_phone(details.text)
    if language == "uk":
        assert CYRILLIC.search(details.text)

    # History: 5 a page, a button per run, /history 2 is page 2, /history #2 opens run 2.
    page = await chat.ask("/history")
    assert "#7" in page.text or "#8" in page.text
    run_buttons = [b for b in page.buttons if b["text"].startswith("#")]
    assert len(run_buttons) == 5
    opened = await chat.press(page, run_buttons[-1]["text"])
    assert words["scheduled"] + run_buttons[-1]["text"][1:] in opened.text
    page2 = await chat.ask("/history 2")
    assert words["page2"] in page2.text
    by_number = await chat.ask("/history #2")
    assert words["scheduled"] + "2" in by_number.text
    # Runs a second apart share a minute: their times show seconds.
    assert re.search(r"\d\d:\d\d:\d\d", page.text), page.text


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_preview_is_kept_after_confirm_and_status_is_home(
    world: World, language: str
) -> None:
    words = WORDS[language]
    chat = world.chat(7201 if language == "en" else 7202, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    preview = await chat.ask("/rebalance")
    assert_fits_a_phone(preview.text)
    table = pre_lines(preview.text)
    sides = [line.split()[0] for line in table[1:]]
    assert sides == sorted(sides, key=lambda s: s not in ("Sell", "Продати"))  # sells first
    await chat.press(preview, words["confirm"])
    report = await chat.reply(timeout=20)
    assert report.kind == "edit"
    assert report.message_id == preview.message_id
    record = preview.text.rsplit("\n", 1)[0]  # all but "expires in 2 minutes"
    assert report.text.startswith(record), (record, report.text)
    assert words["manual"] + "1" in report.text
    assert words["details"] in str(report.buttons)

    status = await chat.ask("/status")
    first = status.text.splitlines()[0]
    assert words["auto_off"] in first
    assert words["dry"] in first
    assert words["value"] in status.text
    assert re.search(words["of_points"], status.text), status.text
    assert words["last_run"] in status.text
    home = await chat.ask("/start")  # set up: the same home screen, with the menu
    assert words["value"] in home.text
    assert home.buttons


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_portfolio_without_targets(world: World, language: str) -> None:
    words = WORDS[language]
    chat = world.chat(7301 if language == "en" else 7302, language)
    world.exchange.add_account("K" * 64, "S" * 64, {"USDT": "1000", "BTC": "0.01"})
    await chat.ask("/start")
    await open_keys(chat)
    await chat.ask("K" * 64)
    chat.send("S" * 64)
    await chat.reply()
    await chat.reply()
    portfolio = await chat.ask("/portfolio")
    assert words["no_targets"] in portfolio.text
    assert_fits_a_phone(portfolio.text)
    assert "BTC" in portfolio.text
    assert not portfolio.buttons


async def test_interim_line_is_replaced_by_the_answer(world: World) -> None:
    assert world.app is not None
    world.app.bot_data["services"].settings.interim_after_seconds = 0.0
    chat = world.chat(7401)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    waiting = await chat.ask("/portfolio")
    answer: SentMessage = await chat.reply()
    assert "Asking the exchange" in waiting.text
    assert answer.kind == "edit"
    assert answer.message_id == waiting.message_id
    assert any(c.method == "sendChatAction" for c in world.telegram.calls)


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_index_fills_slots_of_untradable_coins(world: World, language: str) -> None:
    chat = world.chat(7501 if language == "en" else 7502, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    answer = await chat.ask("/index 10")
    bullets = [line for line in answer.text.splitlines() if re.match(r"• [A-Z]+: \d", line)]
    assert len(bullets) == 10, answer.text  # TON and SHIB have no USDT market here
    market = "market" if language == "en" else "ринку"
    assert f"TON: no TON/USDT {market}" in answer.text or "TON/USDT" in answer.text
    assert "SHIB/USDT" in answer.text
    assert "USDC" in answer.text  # the stablecoin rule is stated
    assert "LINK" in answer.text  # the next-ranked coin took a slot


PAPER = {
    "en": {
        "set": "5,000.00 USDT",
        "paper": "paper wallet",
        "total": "Fees in total:",
        "reset": "real balances",
        "real_value": "1,600.00 USDT",
    },
    "uk": {
        "set": "5\u00a0000,00 USDT",
        "paper": "віртуальн",
        "total": "Усього комісій:",
        "reset": "реальних залишків",
        "real_value": "1\u00a0600,00 USDT",
    },
}


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_paper_wallet_commands_and_performance_says_its_mode(
    world: World, language: str
) -> None:
    words, paper = WORDS[language], PAPER[language]
    chat = world.chat(7601 if language == "en" else 7602, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    answer = await chat.ask("/dryrun wallet 5000")
    assert paper["set"] in answer.text
    portfolio = await chat.ask("/portfolio")
    assert paper["set"] in portfolio.text
    assert paper["paper"] in portfolio.text
    preview = await chat.ask("/rebalance")
    await chat.press(preview, words["confirm"])
    await chat.reply(timeout=20)
    performance = await chat.ask("/performance")
    assert paper["paper"] in performance.text.splitlines()[0]
    assert paper["total"] in performance.text
    reset = await chat.ask("/dryrun reset")
    assert paper["reset"] in reset.text
    portfolio = await chat.ask("/portfolio")
    assert paper["real_value"] in portfolio.text
    assert world.exchange.count("/api/v3/order", "POST") == 0


@pytest.mark.parametrize("language", ["en", "uk"])
async def test_status_shows_last_known_values_when_the_exchange_is_slow(
    world: World, language: str
) -> None:
    words = WORDS[language]
    slow = {"en": "last known", "uk": "останні відомі"}[language]
    chat = world.chat(7701 if language == "en" else 7702, language)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    preview = await chat.ask("/rebalance")
    await chat.press(preview, words["confirm"])
    await chat.reply(timeout=20)
    assert world.app is not None
    world.app.bot_data["services"].home.timeout = 0.0  # the exchange "never" answers in time
    status = await chat.ask("/status")
    assert slow in status.text
    assert words["value"] in status.text
    assert re.search(words["of_points"], status.text), status.text

"""Values that did not come from our catalogs are escaped in HTML messages, inputs are bounded
where they are read, and look-alike asset symbols are refused."""

from __future__ import annotations

from tests.e2e.conftest import World, connect


def _sent_ok(world: World, chat_id: int) -> None:
    calls = [
        c
        for c in world.telegram.call_list("sendMessage")
        + world.telegram.call_list("editMessageText")
        if str(c.params.get("chat_id")) == str(chat_id)
    ]
    assert calls
    assert all(c.status == 200 for c in calls), world.telegram.html_errors
    assert world.telegram.html_errors == []


async def test_an_exchange_asset_named_like_html_reaches_the_chat(world: World) -> None:
    chat = world.chat(8701)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01", "<A HREF=x>": "5"})
    portfolio = await chat.ask("/portfolio")
    assert "&lt;A HREF=X&gt;" in portfolio.text  # ccxt upper-cases currency codes
    _sent_ok(world, 8701)


async def test_user_text_echoed_back_is_escaped(world: World) -> None:
    chat = world.chat(8702)
    await connect(chat, world, {"USDT": "1000"})
    for text in ("/timezone <b>Europe", "/targets <i>BTC 50", "/threshold <x>", "/next <a href=1>"):
        answer = await chat.ask(text)
        assert answer.text
    _sent_ok(world, 8702)


async def test_a_huge_input_gets_a_reply_within_telegrams_limit(world: World) -> None:
    chat = world.chat(8703)
    await connect(chat, world, {"USDT": "1000"})
    answer = await chat.ask("/targets equal " + " ".join(f"A{i:04d}" for i in range(650)))
    assert len(answer.text) <= 4096
    assert "At most 50 assets" in answer.text
    answer = await chat.ask("x" * 4090)
    assert "too long" in answer.text
    _sent_ok(world, 8703)


async def test_look_alike_symbols_are_refused_and_full_width_ones_normalized(
    world: World,
) -> None:
    chat = world.chat(8704)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    cyrillic = "D\u041eGE"  # DОGE with a Cyrillic О
    for text in (
        f"/index 10 exclude {cyrillic}",
        f"/targets {cyrillic} 50 BTC 50",
        f"/targets equal BTC {cyrillic}",
    ):
        answer = await chat.ask(text)
        assert "not an asset symbol" in answer.text, text
    answer = await chat.ask("/targets ＢＴＣ 50 ＵＳＤＴ 50")
    assert "Target weights set" in answer.text
    assert world.app is not None
    account = await world.app.bot_data["services"].accounts.find(8704)
    assert account is not None
    assert set(account.strategy.weights) == {"BTC", "USDT"}
    _sent_ok(world, 8704)

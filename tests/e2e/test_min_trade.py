"""/mintrade: a small portfolio trades once the user lowers their minimum, never below the
exchange's own minimum, and a preview planned with the old minimum is not confirmed."""

from __future__ import annotations

from tests.e2e.conftest import World, connect

FIVE_COINS = "BTC 20 ETH 20 BNB 20 SOL 20 XRP 20"


async def test_a_50_usdt_portfolio_over_5_coins_trades_after_lowering(world: World) -> None:
    chat = world.chat(5501)
    api_key, _secret = await connect(chat, world, {"USDT": "50"}, targets=FIVE_COINS)
    prompt = await chat.ask("/dryrun off")
    await chat.press(prompt, "Yes")
    shown = await chat.ask("/mintrade")
    assert "10.00 USDT" in shown.text  # the default
    assert "5.00 USDT" in shown.text  # the exchange's minimum
    preview = await chat.ask("/rebalance")
    assert "Left out by your minimum trade of 10.00 USDT" in preview.text, preview.text
    assert "/mintrade" in preview.text
    refused = await chat.ask("/mintrade 4")
    assert "below the exchange's minimum trade of 5.00 USDT" in refused.text
    assert "Nothing was changed" in refused.text
    assert "10.00 USDT" in (await chat.ask("/mintrade")).text  # nothing stored
    junk = await chat.ask("/mintrade five")
    assert "not an amount" in junk.text
    done = await chat.ask("/mintrade 5")
    assert "Minimum trade set to 5.00 USDT" in done.text
    preview = await chat.ask("/rebalance")
    assert "Left out by your minimum" not in preview.text, preview.text
    assert sum(line.startswith("Buy ") for line in preview.text.splitlines()) == 5
    await chat.ask("/mintrade 6")  # changed after that preview was shown
    await chat.press(preview, "Confirm")
    # The confirmed preview is kept, marked as not traded; a fresh one follows.
    fresh = await chat.telegram.wait_for_message(
        chat.chat_id, predicate=lambda m: "Things changed" in m.text, timeout=20
    )
    assert world.exchange.orders(api_key) == []
    await chat.press(fresh, "Confirm")
    result = await chat.reply(timeout=20)
    assert "Rebalance done" in result.text, result.text
    bought = {order.symbol for order in world.exchange.orders(api_key)}
    assert bought == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT"}


async def test_the_settings_menu_opens_the_minimum_trade(world: World) -> None:
    chat = world.chat(5502, language="uk")
    await connect(chat, world, {"USDT": "50"}, targets=FIVE_COINS)
    menu = await chat.ask("/settings")
    opened = await chat.press(menu, "Мінімальна угода")
    assert "/mintrade" in opened.text
    assert "10,00 USDT" in opened.text
    refused = await chat.ask("/mintrade 4")
    assert "5,00 USDT" in refused.text
    assert "Нічого не змінено" in refused.text

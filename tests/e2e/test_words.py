"""Human words end to end: unknown commands, Ukrainian units and keywords."""

from __future__ import annotations

from tests.e2e.conftest import World


async def test_an_unknown_command_gets_the_closest_real_one(world: World) -> None:
    chat = world.chat(8401)
    await chat.ask("/start")
    unknown = await chat.ask("/frobnicate")
    assert unknown.text.startswith("Unknown command /frobnicate.")
    assert "/help" in unknown.text
    typo = await chat.ask("/stauts now")
    assert "Did you mean /status?" in typo.text


async def test_ukrainian_units_and_keywords(world: World) -> None:
    chat = world.chat(8402, language="uk")
    await chat.ask("/start")
    assert "Інтервал змінено: 6 годин." in (await chat.ask("/interval 6г")).text
    assert "90 хвилин" in (await chat.ask("/interval 90хв")).text
    assert "2 дні" in (await chat.ask("/interval 2д")).text
    equal = await chat.ask("/targets порівну BTC ETH SOL")
    assert "BTC" in equal.text
    # The loopback settings allow intervals from 1 second.
    assert "Інтервал змінено: 1 хвилина." in (await chat.ask("/interval 1хв")).text


async def test_equal_weights_keep_the_order_and_targets_list_them_once(world: World) -> None:
    chat = world.chat(8403)
    await chat.ask("/start")
    done = await chat.ask("/targets equal SOL BTC ETH")
    lines = [line for line in done.text.splitlines() if line.startswith("•")]
    assert lines == ["• SOL: 33.33%", "• BTC: 33.33%", "• ETH: 33.34%"]
    shown = await chat.ask("/targets")
    assert shown.text.count("33.34") == 1  # the weights once, not in the head line again
    rows = [line for line in shown.text.splitlines() if line.startswith("•")]
    assert rows == lines
    status = await chat.ask("/status")
    assert "SOL 33.33%, BTC 33.33%, ETH 33.34%" in status.text

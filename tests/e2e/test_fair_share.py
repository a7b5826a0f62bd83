"""One user cannot spend the exchange budget everyone shares: chat reads are rationed per
user, and a user past their share is told how long to wait."""

from __future__ import annotations

from tests.e2e.conftest import World, connect


async def test_a_user_asking_the_exchange_again_and_again_is_asked_to_wait(world: World) -> None:
    chat, other = world.chat(5501), world.chat(5502)
    await connect(chat, world, {"USDT": "1000", "BTC": "0.01"})
    await connect(other, world, {"USDT": "1000", "BTC": "0.01"})
    answers = [await chat.ask("/portfolio") for _ in range(7)]
    assert all("Portfolio" in a.text for a in answers[:5])
    assert "Please try again in" in answers[5].text
    reads = world.exchange.count("/sapi/v3/asset/getUserAsset")
    again = await chat.ask("/rebalance")
    assert "Please try again in" in again.text
    assert world.exchange.count("/sapi/v3/asset/getUserAsset") == reads  # nothing asked
    mine = await other.ask("/portfolio")  # someone else is not affected
    assert "Portfolio" in mine.text

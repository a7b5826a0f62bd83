"""A target the bot could neither price nor trade is refused at /targets, naming it."""

from __future__ import annotations

from decimal import Decimal

from bot.app import running
from tests.e2e.conftest import World, connect
from tests.fakes.binance_rules import SymbolRules, synthetic_symbol


async def test_an_asset_with_no_route_to_the_quote_is_refused(stopped_world: World) -> None:
    world = stopped_world
    raw = synthetic_symbol("AAA", "XYZ", step="0.01", tick="0.01", min_qty="0.01", min_notional="5")
    world.exchange.markets["AAAXYZ"] = SymbolRules.from_exchange_info(raw)
    world.exchange.prices["AAAXYZ"] = Decimal(2)
    chat = world.chat(5401)
    async with running(world.settings):
        await connect(chat, world, {"USDT": "1000"})
        refused = await chat.ask("/targets AAA 50 USDT 50")
        assert "AAA" in refused.text
        assert "no market against USDT" in refused.text
        shown = await chat.ask("/targets")
        assert "AAA" not in shown.text  # nothing stored
        # Assets reachable only through a hub are fine: ZZZ trades via BTC.
        accepted = await chat.ask("/targets ZZZ 10 USDT 90")
        assert "ZZZ" in accepted.text
        assert "no market" not in accepted.text

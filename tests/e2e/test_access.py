"""Who may do what: a user taken off the allow-list (across a restart, and at a scheduled run),
/admin remove, and messages that must not act: edits, Business messages, someone else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import running
from tests.e2e.conftest import World, connect, e2e_settings, open_keys
from tests.fakes.binance import FakeBinance
from tests.fakes.marketcap import FakeMarketCaps
from tests.fakes.telegram import FakeTelegram

ALICE, BOB, ADMIN = 8501, 8502, 8509


def _is_report(message: object) -> bool:
    return "Dry run" in getattr(message, "text", "")


async def test_removed_from_the_allow_list_stops_at_restart_and_keeps_the_ways_out(
    tmp_path: Path,
) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        db = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
        listed = e2e_settings(telegram, exchange, caps, db, allowed_user_ids=[ALICE, BOB])
        world = World(telegram, exchange, listed)
        alice = world.chat(ALICE)
        async with running(listed):
            await connect(alice, world, {"USDT": "1000", "BTC": "0.01"})
            await alice.ask("/interval 1h")
            assert "Auto ON" in (await alice.ask("/run")).text
        telegram.drain(ALICE)
        unlisted = e2e_settings(
            telegram, exchange, caps, db, allowed_user_ids=[BOB], admin_ids=[ADMIN]
        )
        async with running(unlisted) as app:
            told = await alice.reply()
            assert "no longer lets you use this bot" in told.text
            assert app.job_queue is not None
            assert not [
                job
                for job in app.job_queue.jobs()
                if not job.removed and job.name.startswith("rebalance:")
            ]
            services = app.bot_data["services"]
            account = await services.accounts.find(ALICE)
            assert account is not None
            assert not account.is_running
            assert account.paused_reason == "not_allowed"
            assert "no longer have access" in (await alice.ask("/portfolio")).text
            assert "no longer have access" in (await alice.ask("/run")).text
            assert "no longer have access" in (await alice.ask("/start")).text
            assert "already off" in (await alice.ask("/stop")).text
            ask = await alice.ask("/deletekeys")
            assert "deleted" in (await alice.press(ask, "Yes")).text
            ask = await alice.ask("/deleteme")
            await alice.press(ask, "Yes")
            assert await services.accounts.find(ALICE) is None
        # Told once: the next start has nobody left to stop.
        async with running(unlisted):
            await asyncio.sleep(0.5)
            assert telegram.drain(ALICE) == []


async def test_a_scheduled_run_of_a_user_no_longer_allowed_stops_instead(world: World) -> None:
    alice = world.chat(ALICE)
    await connect(alice, world, {"USDT": "1000", "BTC": "0.01"})
    await alice.ask("/interval 1s")
    await alice.ask("/run")
    await world.telegram.wait_for_message(ALICE, predicate=_is_report, timeout=20)
    assert world.app is not None
    world.app.bot_data["services"].settings.allowed_user_ids = [BOB]  # the operator changed it
    stopped = await world.telegram.wait_for_message(
        ALICE, predicate=lambda m: "no longer lets you" in m.text, timeout=20
    )
    assert stopped.text
    await asyncio.sleep(2.5)
    assert not [m for m in world.telegram.drain(ALICE) if _is_report(m)]


async def test_admin_remove_erases_a_user(tmp_path: Path) -> None:
    async with FakeTelegram() as telegram, FakeBinance() as exchange, FakeMarketCaps() as caps:
        settings = e2e_settings(
            telegram, exchange, caps, f"sqlite+aiosqlite:///{tmp_path}/bot.db", admin_ids=[ADMIN]
        )
        world = World(telegram, exchange, settings)
        async with running(settings) as app:
            world.app = app
            alice, admin = world.chat(ALICE), world.chat(ADMIN)
            await connect(alice, world, {"USDT": "1000", "BTC": "0.01"})
            await alice.ask("/run")
            await alice.ask("/portfolio")
            await admin.ask("/start")
            assert "operators" in (await alice.ask(f"/admin remove {ADMIN}")).text
            assert "Say whose" in (await admin.ask("/admin remove")).text
            assert "No user" in (await admin.ask("/admin remove 123")).text
            done = await admin.ask(f"/admin remove {ALICE}")
            assert "erased" in done.text
            assert "keys were deleted" in done.text
            services = app.bot_data["services"]
            assert await services.accounts.find(ALICE) is None
            assert len(services.hubs.get("binance").pool) == 0
            assert app.job_queue is not None
            assert not [
                job
                for job in app.job_queue.jobs()
                if not job.removed and job.name.startswith("rebalance:")
            ]


async def test_an_edited_command_is_not_run_again(world: World) -> None:
    alice = world.chat(ALICE)
    await connect(alice, world, {"USDT": "1000", "BTC": "0.01"}, targets="BTC 50 USDT 50")
    message_id = alice.send("/threshold 5")
    assert "5" in (await alice.reply()).text
    world.telegram.push_edit(ALICE, message_id, "/targets DOGE 100")
    answer = await alice.reply()
    assert "new message" in answer.text
    assert world.app is not None
    account = await world.app.bot_data["services"].accounts.find(ALICE)
    assert account is not None
    assert set(account.strategy.weights) == {"BTC", "USDT"}
    # An edit while the key dialog waits is not fed to it either.
    await open_keys(alice)
    world.telegram.push_edit(ALICE, message_id, "K" * 40)
    assert "new message" in (await alice.reply()).text
    assert "/cancel" in (await alice.ask("not a key")).text  # the dialog still asks for the key


async def test_business_messages_and_other_senders_never_reach_a_dialog(world: World) -> None:
    alice = world.chat(ALICE)
    await alice.ask("/start")
    await open_keys(alice)
    world.telegram.push_business_message(ALICE, "/deleteme", user_id=BOB)
    world.telegram.push_business_message(ALICE, "A" * 40, user_id=BOB)
    world.telegram.push_text(ALICE, "B" * 40, user_id=BOB)  # not the chat's own user
    await asyncio.sleep(1.0)
    assert world.telegram.drain(ALICE) == []
    assert world.telegram.deleted[ALICE] == []
    answer = await alice.ask("C" * 40)  # the dialog is where it was: this is the key
    assert "secret" in answer.text.lower()

"""Dry-run trades a paper wallet that evolves; paper and live values are kept apart."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.services.history import HistoryService
from bot.services.run_snapshot import DEFAULT_PAPER_AMOUNT
from tests.services.conftest import Engine

START = {"USDT": "1000", "BTC": "0.01"}


async def test_dry_runs_move_the_paper_wallet_instead_of_repeating(
    engine_services: Engine,
) -> None:
    """Seen: every scheduled dry run "bought 0.33 BNB" again, since nothing changed."""
    user_id, api_key = await engine_services.user(1, START, dry_run=True)
    first = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    assert first.status == RunStatus.SUCCEEDED.value
    assert first.orders
    for _ in range(2):
        again = await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
        assert again.status == RunStatus.SKIPPED.value  # the paper wallet is on target now
        assert again.orders == ()
    assert engine_services.fake.count("/api/v3/order", "POST") == 0
    assert engine_services.fake.balances(api_key) == {k: Decimal(v) for k, v in START.items()}
    account = await engine_services.accounts.get(user_id)
    assert account.paper_balances is not None
    assert account.paper_balances["BNB"] > 0  # what the simulated fills bought
    # Two dry-run fills' fees came out of the paper wallet: it is worth a little less.
    assert first.value_after is not None
    assert first.value_before is not None
    assert first.value_after < first.value_before


async def test_a_dry_run_without_keys_uses_a_default_paper_wallet(
    engine_services: Engine,
) -> None:
    account, _created = await engine_services.accounts.register(77, language="en")
    from bot.services.accounts import Strategy

    await engine_services.accounts.set_strategy(
        account.user_id, Strategy(weights={"BTC": Decimal(50), "USDT": Decimal(50)})
    )
    preview = await engine_services.rebalancer.preview(account.user_id)
    assert preview.total_value == DEFAULT_PAPER_AMOUNT
    result = await engine_services.rebalancer.run(account.user_id, RunTrigger.MANUAL)
    assert result.status == RunStatus.SUCCEEDED.value
    assert [o.symbol for o in result.orders] == ["BTC/USDT"]


async def test_back_to_dry_run_starts_a_fresh_paper_wallet_from_the_real_balances(
    engine_services: Engine,
) -> None:
    user_id, _key = await engine_services.user(2, START, dry_run=True)
    await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    await engine_services.accounts.set_dry_run(user_id, False)
    await engine_services.accounts.set_dry_run(user_id, True)
    account = await engine_services.accounts.get(user_id)
    assert account.paper_balances is None  # seeded anew at the next dry run
    preview = await engine_services.rebalancer.preview(user_id)
    assert preview.holdings["BTC"][0] == Decimal("0.01")  # the real balances again
    await engine_services.accounts.set_paper_wallet(user_id, {"USDT": Decimal(5000)})
    preview = await engine_services.rebalancer.preview(user_id)
    assert preview.total_value == Decimal(5000)


async def test_performance_keeps_paper_and_live_apart(
    engine_services: Engine, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    user_id, _key = await engine_services.user(3, START, dry_run=True)
    await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    await engine_services.accounts.set_dry_run(user_id, False)
    await engine_services.rebalancer.run(user_id, RunTrigger.AUTO)
    history = HistoryService(session_factory)
    paper = await history.performance(user_id, dry_run=True)
    live = await history.performance(user_id, dry_run=False)
    assert paper is not None
    assert live is not None
    assert (paper.dry_run, len(paper.series)) == (True, 2)
    assert (live.dry_run, len(live.series)) == (False, 1)
    assert live.fees  # live fees are real fees
    assert paper.fees
    assert paper.fees != live.fees

"""Runs the queue may deliver more than once (distributed mode): one run per (user, slot).

A task redelivered after its worker died, or sent again after Redis lost it, must not run a
second time. Under the user's run lock (so the run it finds is nobody's any more):

- a finished run with that slot: nothing runs, its stored result is the answer;
- an unfinished one: every order it recorded is looked up by its client id first (the
  reconciler; nothing is sent again), then it continues under the same run id from fresh
  balances, with client ids of a new attempt, so an order the exchange knows is never resent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RebalanceRun, RunStatus
from bot.db.repositories import Repositories
from bot.services.history import result_of
from bot.services.reconcile import Reconciler, outcome_of_row
from bot.services.run_result import OrderOutcome, RunResult


@dataclass(frozen=True, slots=True)
class Resume:
    """An unfinished run to continue: its id, the orders it already placed (as the exchange
    has them now) and the leg prefix of this attempt's client ids."""

    run_id: int
    prior: tuple[OrderOutcome, ...]
    leg_prefix: str


@dataclass(frozen=True, slots=True)
class SlotState:
    done: RunResult | None = None  # the run already finished: its result
    resume: Resume | None = None  # the run is to be continued


async def _run_for_slot(
    sessions: async_sessionmaker[AsyncSession], user_id: int, slot: str
) -> RebalanceRun | None:
    async with sessions() as session:
        return await session.scalar(
            select(RebalanceRun).where(RebalanceRun.user_id == user_id, RebalanceRun.slot == slot)
        )


async def slot_state(
    sessions: async_sessionmaker[AsyncSession],
    reconciler: Reconciler,
    user_id: int,
    slot: str,
    now: datetime,
) -> SlotState:
    """What a delivery of (user, slot) must do. The caller holds the user's run lock."""
    run = await _run_for_slot(sessions, user_id, slot)
    if run is None:
        return SlotState()
    if RunStatus(run.status).is_final:
        return SlotState(done=result_of(run))
    # Its owner is gone (we hold the lock): what became of each order it recorded?
    remaining = await reconciler.reconcile_user(user_id, now=now, everything=True)
    async with sessions() as session:
        repos = Repositories(session)
        orders = await repos.orders.for_run(user_id, run.id)
        refreshed = await repos.runs.get(user_id, run.id)
    if refreshed is None:
        return SlotState()
    if Reconciler.blocking([o for o in remaining if o.run_id == run.id], now):
        # An order's fate is still unknown: a fresh plan could buy the same thing again. The
        # run ends unresolved; reconciliation settles it and tells the user what changed.
        async with sessions() as session, session.begin():
            row = await Repositories(session).runs.get(user_id, run.id)
            if row is None:
                return SlotState()
            row.status, row.error, row.finished_at = RunStatus.UNRESOLVED.value, "unresolved", now
            return SlotState(done=result_of(row))
    prior = tuple(outcome_of_row(o) for o in orders)
    return SlotState(resume=Resume(run.id, prior, f"r{len(orders) + 1}"))

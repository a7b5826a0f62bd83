"""The record of a run: opened before any order, finished in one commit, failures recorded too.

Every attempt ends as a run row with a status and a reason, so nothing fails silently.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.valuation import value_portfolio
from bot.services.accounts import Account
from bot.services.fills import fees_json
from bot.services.run_result import OrderOutcome, Problem, RunResult, plan_facts
from bot.services.run_snapshot import Snapshot

FAILED_ORDER = ("failed", "rejected", "not_sent", "not_placed")


def status_of(outcomes: Sequence[OrderOutcome], problems: Iterable[Problem]) -> RunStatus:
    """What a run's orders add up to. An order the exchange has not accounted for yet makes
    the run unresolved, never failed: it may have executed."""
    if any(not o.settled for o in outcomes):
        return RunStatus.UNRESOLVED
    problems = set(problems)
    failed = any(o.status in FAILED_ORDER for o in outcomes)
    partial = Problem.PARTIAL in problems or any(
        o.status == "expired"
        or (o.amount is not None and 0 < o.filled < o.amount and o.status != "closed")
        for o in outcomes
    )
    stopped = bool(problems - {Problem.PARTIAL, Problem.REJECTED, Problem.FUNDS})
    if not failed and not partial and not stopped:
        return RunStatus.SUCCEEDED
    if any(o.filled > 0 for o in outcomes):
        return RunStatus.PARTIAL
    return RunStatus.FAILED


def order_json(order: OrderOutcome) -> dict[str, Any]:
    return {
        "leg_id": order.leg_id,
        "cid": order.client_order_id,
        "side": order.side,
        "symbol": order.symbol,
        "status": order.status,
        "amount": None if order.amount is None else str(order.amount),
        "filled": str(order.filled),
        "cost": str(order.cost),
        "price": None if order.price is None else str(order.price),
        "fees": fees_json(order.fees),
        "fee_quote": None if order.fee_quote is None else str(order.fee_quote),
        "error": order.error,
    }


SALT_KEY = "client_order_id_salt"
SALT_ALPHABET = string.ascii_lowercase + string.digits
# Failures of these kinds in a row pause a user's automation: an outage does not count.
STREAK_PROBLEMS = (
    Problem.TARGETS,
    Problem.INTERNAL,
    Problem.CLOCK,
    Problem.NOT_CONFIGURED,
    Problem.NO_PRICES,
)


def reopened_fields(
    status: RunStatus, plan: dict[str, Any], value_before: Decimal
) -> dict[str, Any]:
    """The run row's fields when an attempt continues it."""
    return {
        "status": status.value,
        "plan": plan,
        "value_before": value_before,
        "error": None,
        "finished_at": None,
        "notified_at": None,
    }


class RunRecorder:
    """Writes runs: each method is one unit of work."""

    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory
        self._salt: str | None = None

    async def order_id_salt(self) -> str:
        """This install's part of every client order id, made once and kept in the database."""
        if self._salt is None:
            fresh = "".join(secrets.choice(SALT_ALPHABET) for _ in range(6))
            async with self._sessions() as session, session.begin():
                self._salt = await Repositories(session).state.setdefault(SALT_KEY, fresh)
        return self._salt

    async def count_failures(self, account: Account, result: RunResult) -> RunResult:
        """Scheduled failures in a row that an outage does not explain (the job pauses
        automation after a few); a run that went through resets the count."""
        failed = result.problem in STREAK_PROBLEMS
        went_through = result.status in (RunStatus.SUCCEEDED.value, RunStatus.SKIPPED.value)
        streak = account.failure_streak
        if failed or (went_through and streak):
            streak = await self.count_failure(account.user_id, failed=failed)
        elif went_through:
            streak = 0
        return replace(result, detail={**result.detail, "failure_streak": streak})

    async def open_run(
        self,
        account: Account,
        trigger: RunTrigger,
        status: RunStatus,
        plan: dict[str, Any],
        value_before: Decimal,
        started: datetime,
        *,
        slot: str | None = None,
        reopen: int | None = None,
    ) -> int:
        """The run's row, written before any order leaves; with `reopen`, that unfinished
        run continued (a redelivered task, see run_slots)."""
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            if reopen is not None:
                existing = await repos.runs.get(account.user_id, reopen)
                if existing is not None:
                    for name, value in reopened_fields(status, plan, value_before).items():
                        setattr(existing, name, value)
                    return existing.id
            run = await repos.runs.add(
                account.user_id,
                slot=slot,
                trigger=trigger.value,
                dry_run=account.dry_run,
                status=status.value,
                quote_asset=account.strategy.quote,
                plan=plan,
                value_before=value_before,
                started_at=started,
            )
            return run.id

    async def record_failure(
        self,
        account: Account,
        trigger: RunTrigger,
        problem: Problem,
        error: str,
        detail: dict[str, Any] | None = None,
        *,
        run_id: int | None = None,
        slot: str | None = None,
    ) -> RunResult:
        """A run that could not trade: a new row, or the already opened `run_id` closed."""
        now = utcnow()
        result = RunResult(
            run_id=run_id,
            user_id=account.user_id,
            trigger=trigger.value,
            dry_run=account.dry_run,
            status=RunStatus.FAILED.value,
            quote=account.strategy.quote,
            problem=problem,
            detail=dict(detail or {}),
            started_at=now,
            finished_at=now,
        )
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            run = None if run_id is None else await repos.runs.get(account.user_id, run_id)
            if run is None:
                run = await repos.runs.add(
                    account.user_id,
                    slot=slot,
                    trigger=trigger.value,
                    dry_run=account.dry_run,
                    status=RunStatus.FAILED.value,
                    quote_asset=account.strategy.quote,
                    started_at=now,
                )
            else:
                orders = await repos.orders.for_run(account.user_id, run.id)
                if any(o.status in ("pending", "unknown") for o in orders):
                    run.status = RunStatus.UNRESOLVED.value  # reconciliation finishes it
                    result = replace(result, status=run.status)
                else:
                    run.status = RunStatus.FAILED.value
            run.error = error
            run.finished_at = now
            result = replace(result, run_id=run.id, number=run.number)
            run.result = result.to_json() | {"detail": result.detail}
            trader = await repos.sessions.get(account.user_id)
            if trader is not None:
                trader.last_result = result.to_json()
        return result

    async def finish(
        self, run_id: int, result: RunResult, balances: dict[str, Decimal], snap: Snapshot
    ) -> RunResult:
        """Final status, value after, fees in the quote, a snapshot, and the session's last
        result: one commit."""
        quote = result.quote
        valuation = value_portfolio(
            {a: b for a, b in balances.items() if b > 0}, snap.prices, snap.markets, quote
        )
        finished = utcnow()
        fees = sum((o.fee_quote or Decimal(0) for o in result.orders), Decimal(0))
        result = replace(result, value_after=valuation.total_value, finished_at=finished)
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            run = await repos.runs.get(result.user_id, run_id)
            if run is not None:
                facts = plan_facts(run.plan)
                weights_after = {h.asset: h.weight for h in valuation.holdings}
                targets = facts["targets"]
                result = replace(
                    result,
                    number=run.number,
                    weights_before=facts["weights"],
                    targets=targets,
                    drift_after=max(
                        (
                            abs(weights_after.get(a, Decimal(0)) - targets.get(a, Decimal(0)))
                            for a in set(weights_after) | set(targets)
                        ),
                        default=None,
                    )
                    if targets
                    else None,
                )
                run.status = result.status
                run.value_after = valuation.total_value
                run.fees = fees
                run.finished_at = finished
                run.result = result.to_json() | {"orders": [order_json(o) for o in result.orders]}
                if result.problem is not None:
                    run.error = result.problem.value
            await repos.snapshots.add(
                result.user_id,
                run_id=run_id,
                quote_asset=quote,
                total_value=valuation.total_value,
                dry_run=result.dry_run,
                holdings={
                    h.asset: {"amount": str(h.amount), "value": str(h.value)}
                    for h in valuation.holdings
                },
                taken_at=finished,
            )
            trader = await repos.sessions.get(result.user_id)
            if trader is not None:
                trader.last_result = result.to_json()
                trader.last_portfolio = {h.asset: str(h.value) for h in valuation.holdings}
                if result.dry_run:  # the simulated fills move the paper wallet
                    trader.paper_balances = {a: str(b) for a, b in balances.items() if b > 0}
                    trader.paper_started_at = trader.paper_started_at or finished
        return result

    async def count_failure(self, user_id: int, *, failed: bool) -> int:
        """Scheduled runs that failed in a row for a reason an outage does not explain."""
        async with self._sessions() as session, session.begin():
            trader = await Repositories(session).sessions.get(user_id)
            if trader is None:
                return 0
            trader.failure_streak = trader.failure_streak + 1 if failed else 0
            return trader.failure_streak

    async def mark_notified(self, user_id: int, run_id: int | None) -> None:
        if run_id is None:
            return
        async with self._sessions() as session, session.begin():
            run = await Repositories(session).runs.get(user_id, run_id)
            if run is not None and run.notified_at is None:
                run.notified_at = utcnow()

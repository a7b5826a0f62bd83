"""Reconciliation: runs whose owner is gone are closed, and every order whose outcome the
exchange has not told us is looked up until it does.

An order stays on the list while it is `pending` (its row was written, the request may have
left) or `unknown` (sent, the answer lost). Lookups back off; a miss right after a lost answer
proves nothing (Binance's -2013 while the order propagates), so an order is called
`not_placed` only after several misses over ten minutes AND the account's order list for its
time window lacks it, and even then it is re-checked hourly for a day (Hummingbot's
ClientOrderTracker treats "not found" the same way). When an answer changes a run's reported
outcome the run is marked revised and its user is told once. Work on a user happens under
that user's run lock, so a live run (in this process or another) is never touched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import Order, RebalanceRun, RunStatus
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.market import Market
from bot.errors import ExchangeError, NotConfigured, RunInProgress, TemporaryExchangeError
from bot.services.accounts import AccountService
from bot.services.exchange_account import OrderResult, PrivateAccount
from bot.services.fills import fee_value, fees_json
from bot.services.run_finish import order_json, status_of
from bot.services.run_lock import RunLocks
from bot.services.run_result import OrderOutcome, Problem

log = logging.getLogger(__name__)

ABSENT_AFTER = timedelta(minutes=10)
# Lookups back off as fractions of the absence grace: with the default ten minutes, after
# 10 s, 30 s, 1, 2, 5, 10, 30 and 60 minutes (then hourly).
LOOKUP_BACKOFF = (1 / 60, 1 / 20, 1 / 10, 1 / 5, 1 / 2, 1, 3, 6)
ABSENT_AFTER_LOOKUPS = 4
RECHECK_EVERY = timedelta(hours=1)
RECHECK_FOR = timedelta(hours=24)
WINDOW_BEFORE = timedelta(minutes=1)
WINDOW_AFTER = timedelta(minutes=10)
BLOCKS_RUNS_FOR = timedelta(minutes=15)  # a younger unsettled order holds the user's next run


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def outcome_of_row(order: Order) -> OrderOutcome:
    return OrderOutcome(
        leg_id=order.leg_id,
        client_order_id=order.client_order_id,
        side=order.side,
        symbol=order.symbol,
        status=order.status,
        amount=order.amount,
        filled=order.filled or Decimal(0),
        cost=order.cost or Decimal(0),
        price=order.price,
        fees=None if order.fees is None else {c: Decimal(str(a)) for c, a in order.fees.items()},
        fee_quote=order.fee_quote,
        error=order.error,
    )


@dataclass
class _Lookup:
    found: OrderResult | None = None
    failed: bool = True  # the exchange could not be asked: try again later, count no miss


@dataclass
class _Batch:
    """One user's lookups, and the prices that value their fees in each run's quote."""

    lookups: dict[str, _Lookup] = field(default_factory=dict)
    prices: dict[str, Decimal] = field(default_factory=dict)
    markets: dict[str, Market] = field(default_factory=dict)


class Reconciler:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        accounts: AccountService,
        hubs: Any,
        locks: RunLocks,
        *,
        absent_after: timedelta = ABSENT_AFTER,
    ) -> None:
        self._sessions = session_factory
        self._accounts = accounts
        self._hubs = hubs
        self._locks = locks
        self.absent_after = absent_after
        # Distributed mode: an unfinished run with a slot is not closed here, the queue
        # delivers it again and it continues (see run_slots).
        self.leave_queued_runs = False

    async def reconcile(self, now: datetime | None = None, *, shard: str | None = None) -> int:
        """One pass over every user with an open run or a due order (of `shard` only, in
        distributed mode: keys may be bound to its IP); returns users handled. A user whose
        lock is held (a live run, here or in another process) is skipped."""
        now = now or utcnow()
        async with self._sessions() as session:
            users = await Repositories(session).system.users_to_reconcile(now, shard=shard)
        done = 0
        for user_id in users:
            try:
                async with self._locks.hold(user_id):
                    await self.reconcile_user(user_id, now=now)
                    done += 1
            except RunInProgress:
                continue
            except Exception:
                log.exception("user %s: reconciliation failed", user_id)
        return done

    async def reconcile_user(
        self, user_id: int, *, now: datetime | None = None, everything: bool = False
    ) -> list[Order]:
        """Close the user's orphaned runs and look up their due orders (all of them when
        `everything`). The caller holds the user's run lock. Returns orders still unsettled."""
        now = now or utcnow()
        async with self._sessions() as session:
            repos = Repositories(session)
            open_runs = {run.id for run in await repos.runs.unfinished(user_id)}
            listed = await repos.orders.unsettled(user_id)
            runs: dict[int, tuple[bool, str]] = {}
            for item in listed:
                if item.run_id not in runs:
                    run = await repos.runs.get(user_id, item.run_id)
                    runs[item.run_id] = (run.dry_run, run.quote_asset) if run else (True, "")
        due = [
            o
            for o in listed
            if everything
            or o.run_id in open_runs
            or o.next_check_at is None
            or o.next_check_at <= now
        ]
        live = [o for o in due if not runs[o.run_id][0]]
        batch = await self._look_up(user_id, live, now) if live else _Batch()
        touched = set(open_runs)
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            for listed_order in due:
                row = await repos.orders.by_client_id(user_id, listed_order.client_order_id)
                if row is None:
                    continue
                dry_run, quote = runs[row.run_id]
                if dry_run:  # nothing ever leaves in dry-run: a pending row was never sent
                    row.status, row.next_check_at = "not_sent", None
                else:
                    lookup = batch.lookups.get(row.client_order_id, _Lookup())
                    self._apply(row, lookup, now)
                    if lookup.found is not None and row.fees is not None:
                        fees = {c: Decimal(str(a)) for c, a in row.fees.items()}
                        row.fee_quote = fee_value(fees, quote, batch.prices, batch.markets)
                touched.add(row.run_id)
            await session.flush()
            for run_id in touched:
                run = await repos.runs.get(user_id, run_id)
                if run is not None:
                    await self._revise(repos, run, now)
            remaining = await repos.orders.unsettled(user_id)
        return [o for o in remaining if o.status in ("pending", "unknown")]

    async def _look_up(self, user_id: int, orders: list[Order], now: datetime) -> _Batch:
        batch = _Batch()
        try:
            credentials = await self._accounts.credentials(user_id)
        except NotConfigured:
            log.warning(
                "user %s: %d order(s) unsettled and no keys to look them up", user_id, len(orders)
            )
            return batch
        hub = self._hubs.get(credentials.exchange_id)
        try:
            batch.markets = await hub.markets()
            batch.prices = await hub.prices()
            async with hub.private(
                credentials.api_key, credentials.secret, credentials.passphrase
            ) as account:
                for order in orders:
                    batch.lookups[order.client_order_id] = await self._one(account, order, now)
        except ExchangeError as error:
            log.warning("user %s: lookups interrupted (%s)", user_id, type(error).__name__)
        return batch

    async def _one(self, account: PrivateAccount, order: Order, now: datetime) -> _Lookup:
        try:
            found = await account.fetch_order(order.symbol, order.client_order_id)
            if found is None and self._absence_due(order, now):
                sent = order.sent_at or order.created_at
                window = await account.orders_between(
                    order.symbol,
                    int((sent - WINDOW_BEFORE).timestamp() * 1000),
                    int((sent + WINDOW_AFTER).timestamp() * 1000),
                )
                found = next(
                    (o for o in window if o.client_order_id == order.client_order_id), None
                )
        except TemporaryExchangeError as error:
            log.info("order %s: lookup failed (%s)", order.client_order_id, type(error).__name__)
            return _Lookup()
        except ExchangeError as error:
            log.warning(
                "order %s: lookup refused (%s)", order.client_order_id, type(error).__name__
            )
            return _Lookup()
        return _Lookup(found=found, failed=False)

    def _absence_due(self, order: Order, now: datetime) -> bool:
        sent = order.sent_at or order.created_at
        return order.lookups + 1 >= ABSENT_AFTER_LOOKUPS and now - sent >= self.absent_after

    def _apply(self, order: Order, lookup: _Lookup, now: datetime) -> None:
        """Write one lookup's answer into the order row."""
        sent = order.sent_at or order.created_at
        if lookup.found is not None:
            found = lookup.found
            order.status = found.status
            order.filled = found.filled
            if found.cost is not None:
                order.cost = found.cost
            elif found.filled > 0 and order.price:
                order.cost = found.filled * order.price
            if found.average:
                order.price = found.average
            order.fees = fees_json(found.fees)
            order.exchange_order_id = found.exchange_order_id
            order.next_check_at = None
            log.info("order %s settled by lookup: %s", order.client_order_id, found.status)
            return
        if lookup.failed:
            order.next_check_at = now + self._backoff(order.lookups)
            return
        order.lookups += 1
        if order.status in ("pending", "unknown") and self._absence_due(order, now):
            order.status = "not_placed"
            log.warning(
                "order %s: not on the exchange after %d lookups",
                order.client_order_id,
                order.lookups,
            )
        if order.status == "not_placed":
            recheck = max(RECHECK_EVERY * (self.absent_after / ABSENT_AFTER), self.absent_after)
            order.next_check_at = now + recheck if now - sent < RECHECK_FOR else None
            return
        order.next_check_at = now + self._backoff(order.lookups)

    def _backoff(self, lookups: int) -> timedelta:
        return self.absent_after * LOOKUP_BACKOFF[min(lookups, len(LOOKUP_BACKOFF) - 1)]

    async def _revise(self, repos: Repositories, run: RebalanceRun, now: datetime) -> None:
        """Bring a run's record in line with its orders; flag it when a reported outcome moved."""
        orders = await repos.orders.for_run(run.user_id, run.id)
        outcomes = [outcome_of_row(o) for o in orders]
        stored = {o.get("cid"): o for o in (run.result or {}).get("orders") or []}
        changed = any(
            (stored.get(o.client_order_id) or {}).get("status") != o.status
            or _dec((stored.get(o.client_order_id) or {}).get("filled")) != o.filled
            for o in outcomes
        )
        old_status = run.status
        if self.leave_queued_runs and run.slot is not None:
            pass  # a queued run's redelivery continues it (run_slots); its orders are looked up
        elif run.status in (RunStatus.PLANNED.value, RunStatus.EXECUTING.value):
            run.status = RunStatus.INTERRUPTED.value
            run.error = "interrupted"
            run.finished_at = now
        elif run.status == RunStatus.UNRESOLVED.value:
            planned = len((run.plan or {}).get("legs") or [])
            status = status_of(outcomes, set())
            if status == RunStatus.SUCCEEDED and len(outcomes) < planned:
                # The run stopped at the unknown order: the legs after it never went out.
                status = (
                    RunStatus.PARTIAL if any(o.filled > 0 for o in outcomes) else (RunStatus.FAILED)
                )
            run.status = status.value
            if status == RunStatus.FAILED:
                run.error = Problem.UNAVAILABLE.value
        newly_filled_fees = sum(
            (
                o.fee_quote or Decimal(0)
                for o in outcomes
                if o.filled > 0
                and (_dec((stored.get(o.client_order_id) or {}).get("filled")) or 0) == 0
            ),
            Decimal(0),
        )
        if run.value_after is not None and newly_filled_fees:
            run.value_after -= newly_filled_fees
        run.fees = sum((o.fee_quote or Decimal(0) for o in outcomes), Decimal(0))
        result = dict(run.result or {})
        result.update(status=run.status, orders=[order_json(o) for o in outcomes])
        if run.value_after is not None:
            result["value_after"] = str(run.value_after)
        run.result = result
        if run.notified_at is not None and (changed or old_status != run.status):
            run.revised_at = now
            run.revision_notified_at = None

    @staticmethod
    def blocking(orders: list[Order], now: datetime) -> list[Order]:
        """Unsettled orders young enough that the user's next run must wait for them: one
        still propagating could execute after a fresh plan bought the same thing again."""
        return [o for o in orders if now - (o.sent_at or o.created_at) < BLOCKS_RUNS_FOR]

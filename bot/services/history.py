"""Past runs page by page, and performance: return since start against simply holding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RebalanceRun, RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.services.run_result import OrderOutcome, Problem, RunResult, plan_facts

PER_PAGE = 5


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    number: int
    started_at: datetime
    trigger: str
    dry_run: bool
    status: str
    trades: int
    value_before: Decimal | None
    value_after: Decimal | None
    quote: str


@dataclass(frozen=True, slots=True)
class HistoryPage:
    runs: tuple[RunSummary, ...]
    page: int  # 0-based
    pages: int
    total: int


@dataclass(frozen=True, slots=True)
class Performance:
    quote: str
    started_at: datetime
    start_value: Decimal
    current_value: Decimal
    return_pct: Decimal | None
    hold_value: Decimal | None  # the first snapshot's holdings at the latest prices
    hold_return_pct: Decimal | None
    fees: dict[str, Decimal]
    series: tuple[tuple[datetime, Decimal], ...]
    dry_run: bool = False  # the paper wallet's series, or the live account's
    # The first snapshot's holdings valued at each later snapshot's prices (buy and hold).
    hold_series: tuple[tuple[datetime, Decimal], ...] = ()
    traded_at: tuple[datetime, ...] = ()  # snapshots taken after a run that traded
    fees_in_quote: Decimal = Decimal(0)  # every fee valued in the quote when it was paid


def _pct(now: Decimal, start: Decimal) -> Decimal | None:
    if start <= 0:
        return None
    return (now - start) / start * 100


class HistoryService:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def page(self, user_id: int, page: int = 0, per_page: int = PER_PAGE) -> HistoryPage:
        """Newest first; a page past the end shows the last page."""
        async with self._sessions() as session:
            repos = Repositories(session)
            total = await repos.runs.count(user_id)
            pages = max(1, -(-total // per_page))
            page = min(max(page, 0), pages - 1)
            runs = await repos.runs.latest(user_id, limit=per_page, offset=page * per_page)
            summaries = []
            for run in runs:
                orders = (run.result or {}).get("orders") or []
                trades = sum(1 for o in orders if Decimal(str(o.get("filled") or 0)) > 0)
                summaries.append(
                    RunSummary(
                        run_id=run.id,
                        number=run.number,
                        started_at=run.started_at,
                        trigger=run.trigger,
                        dry_run=run.dry_run,
                        status=run.status,
                        trades=trades,
                        value_before=run.value_before,
                        value_after=run.value_after,
                        quote=run.quote_asset,
                    )
                )
        return HistoryPage(tuple(summaries), page, pages, total)

    async def stats(self, hours: int = 24) -> dict[str, int]:
        """Operator numbers: users, active jobs, runs and failures in the last `hours`."""
        async with self._sessions() as session:
            return await Repositories(session).system.stats_since(utcnow() - timedelta(hours=hours))

    async def unreported(self, hours: int = 24) -> list[RunResult]:
        """Runs that ended (or were closed at start-up) but whose report never went out: the
        process died in between. Sent at start-up so no finished run goes unreported; a manual
        run's user saw "Placing orders…" and is owed the outcome too."""
        since = utcnow() - timedelta(hours=hours)
        async with self._sessions() as session:
            runs = await Repositories(session).system.unreported_runs(
                since,
                [RunTrigger.AUTO.value, RunTrigger.MANUAL.value],
                [s.value for s in RunStatus if s.is_final],
            )
            return [result_of(run) for run in runs]

    async def run_result(self, user_id: int, run_id: int) -> tuple[RunResult | None, bool]:
        """A finished run as the views render it, and whether its report went out already."""
        async with self._sessions() as session:
            run = await Repositories(session).runs.get(user_id, run_id)
            if run is None or not RunStatus(run.status).is_final:
                return None, False
            return result_of(run), run.notified_at is not None

    async def revisions(self, hours: int = 72) -> list[RunResult]:
        """Runs whose reported outcome reconciliation changed, not yet told to their user."""
        since = utcnow() - timedelta(hours=hours)
        async with self._sessions() as session:
            runs = await Repositories(session).system.revised_runs(since)
            return [result_of(run) for run in runs]

    async def quiet_report_due(self, user_id: int, key: str, *, hours: int = 24) -> bool:
        """Whether a "no rebalance needed" push may go out now: none in the last `hours`
        about the same `key` (mode, threshold, targets). Claims the slot when it may."""
        now = utcnow()
        async with self._sessions() as session, session.begin():
            trader = await Repositories(session).sessions.get(user_id)
            if trader is None:
                return False
            recent = trader.quiet_report_at is not None and now - trader.quiet_report_at < (
                timedelta(hours=hours)
            )
            if recent and trader.quiet_report_key == key:
                return False
            trader.quiet_report_at, trader.quiet_report_key = now, key[:255]
            return True

    async def run(self, user_id: int, number: int) -> RunResult | None:
        """One run of this user by its number, as the result the views render."""
        async with self._sessions() as session:
            run = await Repositories(session).runs.by_number(user_id, number)
            return None if run is None else result_of(run)

    async def run_page(self, user_id: int, number: int, per_page: int = PER_PAGE) -> int:
        """The history page (0-based) a run number is on, newest first."""
        async with self._sessions() as session:
            total = await Repositories(session).runs.count(user_id)
        return max(0, (total - number) // per_page)

    async def mark_revision_notified(self, user_id: int, run_id: int | None) -> None:
        if run_id is None:
            return
        async with self._sessions() as session, session.begin():
            run = await Repositories(session).runs.get(user_id, run_id)
            if run is not None:
                run.revision_notified_at = utcnow()

    async def performance(
        self,
        user_id: int,
        prices_in_quote: dict[str, Decimal] | None = None,
        *,
        dry_run: bool = False,
    ) -> Performance | None:
        """One mode's performance (paper or live, never mixed); None until it has a snapshot.
        `prices_in_quote` values each asset in the quote."""
        async with self._sessions() as session:
            repos = Repositories(session)
            series = await repos.snapshots.series(user_id, dry_run=dry_run)
            fees = await repos.runs.total_fees(user_id, dry_run=dry_run)
            traded = await repos.runs.traded(
                user_id, [s.run_id for s in series if s.run_id is not None]
            )
            fees_in_quote = await repos.runs.fees_in_quote(user_id, dry_run=dry_run)
        if not series:
            return None
        first, last = series[0], series[-1]
        hold_value: Decimal | None = None
        if prices_in_quote is not None:
            hold_value = Decimal(0)
            for asset, holding in (first.holdings or {}).items():
                amount = Decimal(str(_amount(holding)))
                price = Decimal(1) if asset == first.quote_asset else prices_in_quote.get(asset)
                if price is None:
                    hold_value = None
                    break
                hold_value += amount * price
        return Performance(
            quote=last.quote_asset,
            started_at=first.taken_at,
            start_value=first.total_value,
            current_value=last.total_value,
            return_pct=_pct(last.total_value, first.total_value),
            hold_value=hold_value,
            hold_return_pct=None if hold_value is None else _pct(hold_value, first.total_value),
            fees=fees,
            series=tuple((s.taken_at, s.total_value) for s in series),
            dry_run=dry_run,
            hold_series=hold_series(series),
            traded_at=tuple(s.taken_at for s in series if s.run_id in traded),
            fees_in_quote=fees_in_quote,
        )


def hold_series(snapshots: list[Any]) -> tuple[tuple[datetime, Decimal], ...]:
    """What the first snapshot's holdings were worth at each snapshot, priced from that
    snapshot's own holdings (value / amount); an asset no longer held keeps its last price."""
    if not snapshots:
        return ()
    first = snapshots[0]
    amounts = {a: Decimal(str(_amount(h))) for a, h in (first.holdings or {}).items()}
    prices: dict[str, Decimal] = {}
    points = []
    for snapshot in snapshots:
        for asset, holding in (snapshot.holdings or {}).items():
            amount = Decimal(str(_amount(holding)))
            value = holding.get("value") if isinstance(holding, dict) else None
            if amount > 0 and value not in (None, ""):
                prices[asset] = Decimal(str(value)) / amount
        if any(asset not in prices for asset, amount in amounts.items() if amount):
            continue  # a holding never priced yet: no honest point
        total = sum((amount * prices[a] for a, amount in amounts.items() if amount), Decimal(0))
        points.append((snapshot.taken_at, total))
    return tuple(points)


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def result_of(run: RebalanceRun) -> RunResult:
    """A stored run as the result object the views render (for reports sent after a restart)."""
    stored = run.result or {}
    orders = tuple(
        OrderOutcome(
            leg_id=o.get("leg_id", ""),
            client_order_id=o.get("cid", ""),
            side=o.get("side", ""),
            symbol=o.get("symbol", ""),
            status=o.get("status", ""),
            amount=_dec(o.get("amount")),
            filled=_dec(o.get("filled")) or Decimal(0),
            cost=_dec(o.get("cost")) or Decimal(0),
            price=_dec(o.get("price")),
            fees=_fees(o),
            fee_quote=_dec(o.get("fee_quote")),
            error=o.get("error"),
        )
        for o in stored.get("orders") or []
        if isinstance(o, dict)
    )
    problem_value = stored.get("problem") or (run.error if run.error in set(Problem) else None)
    facts = plan_facts(run.plan)
    return RunResult(
        run_id=run.id,
        user_id=run.user_id,
        trigger=run.trigger,
        dry_run=run.dry_run,
        status=run.status,
        quote=run.quote_asset,
        orders=orders,
        value_before=run.value_before,
        value_after=run.value_after,
        max_drift=_dec((run.plan or {}).get("max_drift")),
        threshold=_dec((run.plan or {}).get("threshold")),
        problem=Problem(problem_value) if problem_value else None,
        started_at=run.started_at,
        finished_at=run.finished_at,
        number=run.number,
        weights_before=facts["weights"],
        targets=facts["targets"],
        drift_after=_dec(stored.get("drift_after")),
        detail=dict(stored.get("detail") or {}),
    )


def _fees(order: dict[str, Any]) -> dict[str, Decimal] | None:
    """Fees per currency as stored; runs recorded before that kept one fee and its currency."""
    fees = order.get("fees")
    if isinstance(fees, dict):
        return {currency: Decimal(str(amount)) for currency, amount in fees.items()}
    if order.get("fee") is not None and order.get("fee_currency"):
        return {order["fee_currency"]: Decimal(str(order["fee"]))}
    return None


def _amount(holding: Any) -> Any:
    return holding.get("amount", 0) if isinstance(holding, dict) else holding

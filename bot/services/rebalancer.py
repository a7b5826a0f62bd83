"""One rebalance run end to end: snapshot, plan, record, execute or simulate, report."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.market import Market
from bot.domain.planner import TradePlan, plan_rebalance, rescale_buys
from bot.domain.strategies import equal_weights, fixed_weights, index_weights
from bot.domain.valuation import price_in_quote, value_portfolio
from bot.errors import (
    AuthenticationFailed,
    ExchangeError,
    NotConfigured,
    PermissionDenied,
    RunInProgress,
    ShuttingDown,
    TemporaryExchangeError,
)
from bot.services.accounts import Account, AccountService, Credentials
from bot.services.execution import OrderExecutor, apply_fill, dependent_size
from bot.services.run_result import DroppedView, LegView, Preview, Problem, RunResult

log = logging.getLogger(__name__)


def _shutting_down() -> ShuttingDown:
    return ShuttingDown("The bot is restarting. Please try again in a minute.")


@dataclass
class Snapshot:
    """Everything a plan is made from, read once per run."""

    account: Account
    markets: dict[str, Market]
    prices: dict[str, Decimal]
    balances: dict[str, Decimal]
    targets: dict[str, Decimal]


class Rebalancer:
    """`preview(user_id)` and `run(user_id, trigger)`: callable with nothing but ids."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        accounts: AccountService,
        hubs: Any,
        marketcap: Any,
    ) -> None:
        self._sessions = session_factory
        self._accounts = accounts
        self._hubs = hubs
        self._marketcap = marketcap
        self._locks: dict[int, asyncio.Lock] = {}
        self._draining = False
        self._reading: set[asyncio.Task[Any]] = set()
        self._let_go: set[asyncio.Task[Any]] = set()

    # --- shutdown ------------------------------------------------------------------------------

    def drain(self) -> int:
        """The process is stopping: no new run starts, and runs still reading (nothing recorded,
        nothing sent; often waiting for the exchange's weight budget) stop now with ShuttingDown.
        Runs already placing orders finish. Returns how many runs were let go."""
        self._draining = True
        for task in self._reading:
            self._let_go.add(task)
            task.cancel()
        return len(self._reading)

    def _refuse_if_draining(self) -> None:
        if self._draining:
            raise _shutting_down()

    @asynccontextmanager
    async def _interruptible(self) -> AsyncIterator[None]:
        """A reading phase: `drain` may cancel it, and the caller then sees ShuttingDown."""
        self._refuse_if_draining()
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always called from a task
        self._reading.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._let_go:
                raise  # cancelled by someone else: not ours to swallow
            task.uncancel()
            raise _shutting_down() from None
        finally:
            self._reading.discard(task)
            self._let_go.discard(task)

    # --- locking -------------------------------------------------------------------------------

    @asynccontextmanager
    async def _user_lock(self, user_id: int) -> AsyncIterator[None]:
        """One run per user at a time, manual and scheduled alike; a second one is refused."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        if lock.locked():
            raise RunInProgress("A rebalance is already running for you. Please wait a moment.")
        async with lock:
            try:
                yield
            finally:
                self._locks.pop(user_id, None)

    # --- reading -------------------------------------------------------------------------------

    async def _targets(self, account: Account, markets: dict[str, Market]) -> dict[str, Decimal]:
        strategy = account.strategy
        if not strategy.is_set:
            raise NotConfigured("Set your targets first, e.g. /targets BTC 50 ETH 30 USDT 20")
        known = {m.base for m in markets.values()} | {m.quote for m in markets.values()}
        if strategy.kind == "index":
            entries = await self.market_caps(account.user_id)
            tradable = {m.base for m in markets.values() if m.quote == strategy.quote and m.active}
            return index_weights(
                entries,
                size=strategy.index_size or 10,
                cap=strategy.index_cap,
                exclusions=set(strategy.exclusions),
                tradable=tradable,
            )
        if strategy.kind == "equal":
            return equal_weights(list(strategy.weights), known)
        return fixed_weights(strategy.weights, known)

    async def _snapshot(self, account: Account, credentials: Credentials) -> Snapshot:
        """Reads only, so a stopping process may let it go (see `drain`)."""
        async with self._interruptible():
            hub = self._hubs.get(credentials.exchange_id)
            markets = await hub.markets()
            prices = await hub.prices()
            async with hub.private(
                credentials.api_key, credentials.secret, credentials.passphrase
            ) as ex:
                balances = (await ex.fetch_balances()).free
            targets = await self._targets(account, markets)
        return Snapshot(account, markets, prices, dict(balances), targets)

    def _plan(self, snap: Snapshot) -> TradePlan:
        strategy = snap.account.strategy
        return plan_rebalance(
            balances=snap.balances,
            prices=snap.prices,
            markets=snap.markets,
            targets=snap.targets,
            quote=strategy.quote,
            threshold=strategy.threshold,
            min_trade=strategy.min_trade,
        )

    async def market_caps(self, user_id: int) -> list[Any]:
        """The ranking the user's index follows: CoinMarketCap with their key, else CoinGecko."""
        cmc_key = await self._accounts.cmc_key(user_id)
        try:
            return list(await self._marketcap.top(250, cmc_api_key=cmc_key))
        except AuthenticationFailed as error:  # the CoinMarketCap key, not the exchange's
            raise NotConfigured(
                "CoinMarketCap rejected your key. Send a new one with /cmckey, or "
                "/cmckey delete to use CoinGecko."
            ) from error

    async def asset_prices(self, user_id: int) -> dict[str, Decimal]:
        """Each listed asset's price in the user's quote, from the shared (public) price cache."""
        account = await self._accounts.get(user_id)
        hub = self._hubs.get(account.exchange_id)
        markets = await hub.markets()
        prices = await hub.prices()
        quote = account.strategy.quote
        result = {}
        for asset in {m.base for m in markets.values()} | {quote}:
            price = price_in_quote(asset, quote, prices, markets)
            if price is not None:
                result[asset] = price
        return result

    # --- preview -------------------------------------------------------------------------------

    async def preview(self, user_id: int) -> Preview:
        """The plan as it would run now; nothing is recorded or traded."""
        account, credentials = await self._accounts.for_run(user_id)
        snap = await self._snapshot(account, credentials)
        return _preview(user_id, account, self._plan(snap))

    # --- the run -------------------------------------------------------------------------------

    async def run(
        self, user_id: int, trigger: RunTrigger | str, confirmed: Preview | None = None
    ) -> RunResult:
        self._refuse_if_draining()
        async with self._user_lock(user_id):
            return await self._run_locked(user_id, RunTrigger(trigger), confirmed)

    async def _record_failure(
        self, account: Account, trigger: RunTrigger, problem: Problem, error: str
    ) -> RunResult:
        now = utcnow()
        async with self._sessions() as session, session.begin():
            run = await Repositories(session).runs.add(
                account.user_id,
                trigger=trigger.value,
                dry_run=account.dry_run,
                status=RunStatus.FAILED.value,
                quote_asset=account.strategy.quote,
                error=error,
                started_at=now,
                finished_at=now,
            )
        result = RunResult(
            run_id=run.id,
            user_id=account.user_id,
            trigger=trigger.value,
            dry_run=account.dry_run,
            status=RunStatus.FAILED.value,
            quote=account.strategy.quote,
            problem=problem,
            started_at=now,
            finished_at=now,
        )
        await self._save_last_result(account.user_id, result)
        return result

    async def _run_locked(
        self, user_id: int, trigger: RunTrigger, confirmed: Preview | None
    ) -> RunResult:
        account, credentials = await self._accounts.for_run(user_id)
        try:
            snap = await self._snapshot(account, credentials)
        except AuthenticationFailed:
            return await self._record_failure(account, trigger, Problem.AUTH, "authentication")
        except PermissionDenied:
            return await self._record_failure(account, trigger, Problem.PERMISSION, "permission")
        except TemporaryExchangeError as error:
            return await self._record_failure(
                account, trigger, Problem.UNAVAILABLE, type(error).__name__
            )
        plan = self._plan(snap)
        preview = _preview(user_id, account, plan)
        started = utcnow()
        status = (
            RunStatus.EXECUTING if plan.needs_rebalance and not plan.is_empty else RunStatus.SKIPPED
        )
        market_moved = confirmed is not None and confirmed.signature != preview.signature
        if market_moved:
            status = RunStatus.SKIPPED
        async with self._sessions() as session, session.begin():
            run = await Repositories(session).runs.add(
                user_id,
                trigger=trigger.value,
                dry_run=account.dry_run,
                status=status.value,
                quote_asset=account.strategy.quote,
                plan=plan_json(preview),
                value_before=plan.total_value,
                started_at=started,
            )
        run_id = run.id
        if status == RunStatus.SKIPPED:
            result = RunResult(
                run_id=run_id,
                user_id=user_id,
                trigger=trigger.value,
                dry_run=account.dry_run,
                status=status.value,
                quote=account.strategy.quote,
                value_before=plan.total_value,
                value_after=plan.total_value,
                max_drift=plan.max_drift,
                threshold=plan.threshold,
                problem=Problem.MARKET_MOVED if market_moved else None,
                started_at=started,
            )
            return await self._finish(run_id, result, snap.balances, snap)
        return await self._execute(run_id, started, trigger, account, credentials, snap, plan)

    async def _execute(
        self,
        run_id: int,
        started: Any,
        trigger: RunTrigger,
        account: Account,
        credentials: Credentials,
        snap: Snapshot,
        plan: TradePlan,
    ) -> RunResult:
        hub = self._hubs.get(credentials.exchange_id)
        balances = dict(snap.balances)
        quote = account.strategy.quote
        async with hub.private(
            credentials.api_key, credentials.secret, credentials.passphrase
        ) as ex:
            executor = OrderExecutor(
                self._sessions,
                user_id=account.user_id,
                run_id=run_id,
                dry_run=account.dry_run,
                account=None if account.dry_run else ex,
                prices=snap.prices,
            )
            await self._legs(executor, plan.sells, snap, balances)
            if plan.buys and not executor.state.stop:
                if plan.sells and not account.dry_run:
                    try:  # sells change what we can spend: read the truth, not our estimate
                        balances = dict((await ex.fetch_balances()).free)
                    except ExchangeError as error:
                        executor.state.add_problem(_problem_of(error))
                        executor.state.stop = True
                if not executor.state.stop:
                    buys, _dropped = rescale_buys(
                        plan.buys,
                        available_quote=balances.get(quote, Decimal(0)),
                        markets=snap.markets,
                        min_trade=account.strategy.min_trade,
                    )
                    await self._legs(executor, buys, snap, balances)
        state = executor.state
        outcomes = tuple(state.outcomes)
        filled_any = any(o.filled > 0 for o in outcomes)
        failed_any = any(o.status in ("failed", "unknown") for o in outcomes) or state.stop
        if not failed_any and Problem.PARTIAL not in state.problems:
            status = RunStatus.SUCCEEDED
        elif filled_any:
            status = RunStatus.PARTIAL
        else:
            status = RunStatus.FAILED
        problem = state.problems[0] if state.problems else None
        result = RunResult(
            run_id=run_id,
            user_id=account.user_id,
            trigger=trigger.value,
            dry_run=account.dry_run,
            status=status.value,
            quote=quote,
            orders=outcomes,
            value_before=plan.total_value,
            max_drift=plan.max_drift,
            threshold=plan.threshold,
            problem=problem,
            started_at=started,
        )
        return await self._finish(run_id, result, balances, snap)

    async def _legs(
        self, executor: OrderExecutor, legs: Any, snap: Snapshot, balances: dict[str, Decimal]
    ) -> None:
        """Place legs in order; a routed second hop is sized from what its first hop produced."""
        produced: dict[str, Any] = {}
        for leg in legs:
            amount, cost = leg.amount, leg.cost
            if leg.depends_on:
                first = produced.get(leg.depends_on)
                if first is None or first.filled <= 0:
                    continue  # the first hop did not fill: nothing to pass on
                size = dependent_size(first, snap.markets[leg.symbol])
                if leg.side == "sell":
                    amount = size
                else:
                    cost = size
                if size <= 0:
                    continue
            outcome = await executor.place(
                leg.leg_id, leg.symbol, leg.side, amount=amount, cost=cost
            )
            if outcome is None:
                return
            produced[leg.leg_id] = outcome
            apply_fill(balances, outcome)

    async def _finish(
        self, run_id: int, result: RunResult, balances: dict[str, Decimal], snap: Snapshot
    ) -> RunResult:
        """Final status, value after, a snapshot, and the session's last result: one commit."""
        quote = result.quote
        valuation = value_portfolio(
            {a: b for a, b in balances.items() if b > 0}, snap.prices, snap.markets, quote
        )
        finished = utcnow()
        fees = sum(
            (
                o.fee * (o.price or 0) if o.fee_currency != quote else o.fee
                for o in result.orders
                if o.fee is not None
            ),
            Decimal(0),
        )
        result = _replace(result, value_after=valuation.total_value, finished_at=finished)
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            run = await repos.runs.get(result.user_id, run_id)
            if run is not None:
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
        return result

    async def _save_last_result(self, user_id: int, result: RunResult) -> None:
        async with self._sessions() as session, session.begin():
            trader = await Repositories(session).sessions.get(user_id)
            if trader is not None:
                trader.last_result = result.to_json()

    async def mark_notified(self, user_id: int, result: RunResult) -> None:
        if result.run_id is None:
            return
        async with self._sessions() as session, session.begin():
            run = await Repositories(session).runs.get(user_id, result.run_id)
            if run is not None and run.notified_at is None:
                run.notified_at = utcnow()

    # --- start-up ------------------------------------------------------------------------------

    async def reconcile_interrupted(self) -> int:
        """Close runs a crash left open: look each unsent or unknown order up, never resend."""
        async with self._sessions() as session:
            runs = await Repositories(session).system.unfinished_runs()
            pending = [(r.id, r.user_id, r.dry_run) for r in runs]
        for run_id, user_id, dry_run in pending:
            await self._reconcile_run(run_id, user_id, dry_run)
        return len(pending)

    async def _reconcile_run(self, run_id: int, user_id: int, dry_run: bool) -> None:
        async with self._sessions() as session:
            orders = await Repositories(session).orders.for_run(user_id, run_id)
            open_orders = [
                (o.client_order_id, o.symbol) for o in orders if o.status in ("pending", "unknown")
            ]
        found: dict[str, Any] = {}
        if open_orders and not dry_run:
            try:
                credentials = await self._accounts.credentials(user_id)
                hub = self._hubs.get(credentials.exchange_id)
                await hub.markets()
                async with hub.private(
                    credentials.api_key, credentials.secret, credentials.passphrase
                ) as ex:
                    for cid, symbol in open_orders:
                        found[cid] = await ex.fetch_order(symbol, cid)
            except (ExchangeError, NotConfigured) as error:
                log.warning("run %s: reconciliation incomplete (%s)", run_id, type(error).__name__)
        async with self._sessions() as session, session.begin():
            repos = Repositories(session)
            for cid, _symbol in open_orders:
                order = await repos.orders.by_client_id(user_id, cid)
                if order is None:
                    continue
                if cid not in found:
                    order.status = "not_sent" if dry_run else "unknown"
                    continue
                result = found[cid]
                if result is None:  # the exchange confirms it never got it
                    order.status = "not_sent"
                    continue
                order.exchange_order_id = getattr(result, "exchange_order_id", None)
                order.status = str(result.status)
                order.filled = result.filled
                order.cost = result.cost
                order.fee = result.fee_cost  # None when the exchange does not report it
                order.fee_currency = getattr(result, "fee_currency", None)
            run = await repos.runs.get(user_id, run_id)
            if run is not None:
                run.status = RunStatus.INTERRUPTED.value
                run.finished_at = utcnow()
                run.error = "interrupted"


def _problem_of(error: ExchangeError) -> Problem:
    if isinstance(error, AuthenticationFailed):
        return Problem.AUTH
    if isinstance(error, PermissionDenied):
        return Problem.PERMISSION
    return Problem.UNAVAILABLE


def _replace(result: RunResult, **changes: Any) -> RunResult:
    from dataclasses import replace

    return replace(result, **changes)


def _preview(user_id: int, account: Account, plan: TradePlan) -> Preview:
    valuation = plan.valuation
    legs = tuple(
        LegView(
            leg_id=leg.leg_id,
            side=leg.side,
            symbol=leg.symbol,
            asset=leg.asset,
            amount=leg.amount,
            value=leg.value,
        )
        for leg in (*plan.sells, *plan.buys)
    )
    dropped = tuple(
        DroppedView(asset=d.asset, side=d.side, value=d.value, reason=str(d.reason.value))
        for d in plan.dropped
    )
    return Preview(
        user_id=user_id,
        quote=account.strategy.quote,
        dry_run=account.dry_run,
        total_value=plan.total_value,
        legs=legs,
        dropped=dropped,
        drift_before=dict(plan.drift_before),
        drift_after=dict(plan.drift_after),
        current_weights={h.asset: h.weight for h in valuation.holdings},
        target_weights=dict(plan.target_weights),
        holdings={h.asset: (h.amount, h.value) for h in valuation.holdings},
        max_drift=plan.max_drift,
        threshold=plan.threshold,
        needs_rebalance=plan.needs_rebalance,
        estimated_fees=plan.estimated_fees,
        unpriced=tuple(valuation.unpriced),
        created_at=utcnow(),
    )


def plan_json(preview: Preview) -> dict[str, Any]:
    return {
        "total_value": str(preview.total_value),
        "max_drift": str(preview.max_drift),
        "threshold": str(preview.threshold),
        "legs": [
            {
                "leg_id": leg.leg_id,
                "side": leg.side,
                "symbol": leg.symbol,
                "amount": None if leg.amount is None else str(leg.amount),
                "value": str(leg.value),
            }
            for leg in preview.legs
        ],
        "dropped": [
            {"asset": d.asset, "side": d.side, "value": str(d.value), "reason": d.reason}
            for d in preview.dropped
        ],
        "targets": {asset: str(weight) for asset, weight in preview.target_weights.items()},
    }


def order_json(order: Any) -> dict[str, Any]:
    return {
        "leg_id": order.leg_id,
        "cid": order.client_order_id,
        "side": order.side,
        "symbol": order.symbol,
        "status": order.status,
        "filled": str(order.filled),
        "cost": str(order.cost),
        "fee": None if order.fee is None else str(order.fee),
        "fee_currency": order.fee_currency,
    }

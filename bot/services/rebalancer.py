"""One rebalance run end to end: lock, snapshot, plan, record, execute or simulate, finish.

The phases live in their own modules (run_snapshot, run_plan, execution, run_finish,
reconcile, run_lock); this one orders them and turns every way a run can end into a recorded
result: nothing fails silently.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import RunStatus, RunTrigger
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.planner import TradePlan, rescale_buys
from bot.domain.valuation import price_in_quote
from bot.errors import (
    AuthenticationFailed,
    CredentialsError,
    NotConfigured,
    ReadsThrottled,
    RunInProgress,
    ShuttingDown,
)
from bot.services.accounts import Account, AccountService, Credentials
from bot.services.budgets import budget_user, interactive
from bot.services.execution import OrderExecutor
from bot.services.kill_switch import KillSwitch
from bot.services.ratelimit import Admission, UpdateRateLimiter
from bot.services.reconcile import Reconciler
from bot.services.run_checks import Refused, checked_snapshot
from bot.services.run_drain import Draining
from bot.services.run_finish import RunRecorder, status_of
from bot.services.run_lock import RunGuard, RunLocks
from bot.services.run_plan import (
    fee_reserve,
    holdings_preview,
    matches,
    plan_for,
    plan_json,
    preview_of,
)
from bot.services.run_preview import PreviewStore
from bot.services.run_result import Preview, Problem, RunResult
from bot.services.run_slots import Resume, slot_state
from bot.services.run_snapshot import Snapshot, read_snapshot

log = logging.getLogger(__name__)


@dataclass
class _Attempt:
    run_id: int | None = None
    slot: str | None = None
    resume: Resume | None = None


class Rebalancer:
    """`preview(user_id)` and `run(user_id, trigger)`: callable with nothing but ids."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        accounts: AccountService,
        hubs: Any,
        marketcap: Any,
        *,
        locks: RunLocks | None = None,
        unknown_grace: timedelta | None = None,
        kill_switch: KillSwitch | None = None,
    ) -> None:
        self._sessions = session_factory
        self._accounts = accounts
        self._hubs = hubs
        self._marketcap = marketcap
        self.locks = locks or RunLocks(session_factory)
        self._recorder = RunRecorder(session_factory)
        self.reconciler = Reconciler(
            session_factory,
            accounts,
            hubs,
            self.locks,
            **({} if unknown_grace is None else {"absent_after": unknown_grace}),
        )
        self.kill_switch = kill_switch or KillSwitch(session_factory)
        self.previews = PreviewStore(session_factory)
        self.draining = Draining()
        # Exchange reads a user may ask for from the chat: a burst of 5, then 6 a minute.
        self.reads = UpdateRateLimiter(burst=5, per_minute=6, notice_every=0)

    # --- reading -------------------------------------------------------------------------------

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

    async def _snapshot(
        self, account: Account, credentials: Credentials | None, *, with_targets: bool = True
    ) -> Snapshot:
        """Reads only, so a stopping process may let it go (see `drain`)."""
        async with self.draining.interruptible():
            return await read_snapshot(
                self._hubs, account, credentials, self.market_caps, with_targets=with_targets
            )

    # --- preview -------------------------------------------------------------------------------

    async def preview(self, user_id: int, *, holdings_only_ok: bool = False) -> Preview:
        """The plan as it would run now; nothing is recorded or traded. A chat command: its
        reads yield to scheduled runs when the exchange budget is short, and each user gets a
        fair share (ReadsThrottled beyond it)."""
        verdict, wait = self.reads.admit(user_id)
        if verdict is not Admission.ALLOW:
            raise ReadsThrottled(
                "You asked the exchange a lot in a short time, and its budget is shared by "
                "everyone. Please try again in {seconds} s.",
                seconds=max(1, math.ceil(wait)),
            )
        token = interactive.set(True)
        try:
            return await self._preview(user_id, holdings_only_ok)
        finally:
            interactive.reset(token)

    async def _preview(self, user_id: int, holdings_only_ok: bool = False) -> Preview:
        """`holdings_only_ok`: without targets, the holdings alone (for /portfolio)."""
        account, credentials = await self._accounts.with_credentials(user_id)
        if credentials is None and not account.dry_run:
            raise NotConfigured("Connect your exchange first with /keys.")
        if holdings_only_ok and not account.strategy.is_set:
            snap = await self._snapshot(account, credentials, with_targets=False)
            return holdings_preview(user_id, account, snap)
        snap = await self._snapshot(account, credentials)
        preview = preview_of(user_id, account, plan_for(snap), snap.prices)
        if not account.dry_run:
            blocking = await self._blocking_orders(user_id)
            preview = replace(preview, unsettled_orders=len(blocking))
        return preview

    async def propose(self, user_id: int) -> Preview:
        """A preview to confirm: stored as shown, so Confirm runs exactly this plan or, if the
        world changed, answers with a fresh one; it survives a restart for its two minutes."""
        preview = await self.preview(user_id)
        return await self.previews.store(preview) if preview.legs else preview

    async def confirm(self, user_id: int, preview_id: int) -> RunResult:
        """Run the stored preview the user confirmed (once). If the fresh plan is not the one
        shown (mode, strategy, orders and their sizes), nothing trades and the result carries
        the new preview to confirm instead."""
        shown = await self.previews.take(user_id, preview_id)
        return await self.run(user_id, RunTrigger.MANUAL, shown)

    async def cancel(self, user_id: int, preview_id: int) -> None:
        """The user pressed Cancel: that preview can no longer be confirmed."""
        await self.previews.discard(user_id, preview_id)

    async def _blocking_orders(self, user_id: int) -> list[Any]:
        async with self._sessions() as session:
            listed = await Repositories(session).orders.unsettled(user_id)
        pending = [o for o in listed if o.status in ("pending", "unknown")]
        return Reconciler.blocking(pending, utcnow())

    # --- the run -------------------------------------------------------------------------------

    async def run(
        self,
        user_id: int,
        trigger: RunTrigger | str,
        confirmed: Preview | None = None,
        *,
        slot: str | None = None,
    ) -> RunResult:
        """One run under the user's lock (RunInProgress if another holds it, anywhere).
        Every other way it can end is a recorded RunResult, errors of ours included. With a
        `slot` (a queued run), a second delivery of it never runs twice: see run_slots."""
        self.draining.refuse()
        trigger = RunTrigger(trigger)
        budget_user.set(user_id)  # this task's exchange waits are logged as this user's
        async with contextlib.AsyncExitStack() as stack:
            async with self.draining.interruptible():  # waiting for a run slot may be let go too
                guard = await stack.enter_async_context(self.locks.hold(user_id))
            attempt = _Attempt(slot=slot)
            if slot is not None:
                state = await slot_state(self._sessions, self.reconciler, user_id, slot, utcnow())
                if state.done is not None:
                    return replace(state.done, repeated=True)
                attempt.resume = state.resume
            try:
                account, credentials = await self._accounts.with_credentials(user_id)
            except CredentialsError:  # no configured master key opens them: ours to fix
                log.error("user %s: stored credentials cannot be decrypted", user_id)
                account = await self._accounts.get(user_id)
                return await self._recorder.record_failure(
                    account, trigger, Problem.INTERNAL, "credentials", slot=slot
                )
            try:
                result = await self._attempt(
                    account, credentials, trigger, confirmed, guard, attempt
                )
            except (ShuttingDown, RunInProgress):
                raise
            except Exception as error:
                log.exception("user %s: %s run failed unexpectedly", user_id, trigger.value)
                result = await self._recorder.record_failure(
                    account,
                    trigger,
                    Problem.INTERNAL,
                    type(error).__name__,
                    run_id=attempt.run_id,
                    slot=slot,
                )
            if trigger == RunTrigger.AUTO:
                result = await self._recorder.count_failures(account, result)
            return result

    async def _attempt(
        self,
        account: Account,
        credentials: Credentials | None,
        trigger: RunTrigger,
        confirmed: Preview | None,
        guard: RunGuard,
        attempt: _Attempt,
    ) -> RunResult:
        try:
            snap, credentials = await self._checked_snapshot(account, credentials)
        except Refused as refused:
            resumed = attempt.resume.run_id if attempt.resume is not None else None
            return await self._recorder.record_failure(
                account,
                trigger,
                refused.problem,
                refused.error,
                refused.detail,
                run_id=resumed,
                slot=attempt.slot,
            )
        plan = plan_for(snap)
        preview = preview_of(account.user_id, account, plan, snap.prices)
        started = utcnow()
        status = (
            RunStatus.EXECUTING if plan.needs_rebalance and not plan.is_empty else RunStatus.SKIPPED
        )
        market_moved = confirmed is not None and not matches(confirmed, preview)
        if market_moved:
            status = RunStatus.SKIPPED
        resume = attempt.resume
        run_id = await self._recorder.open_run(
            account,
            trigger,
            status,
            plan_json(preview),
            plan.total_value,
            started,
            slot=attempt.slot,
            reopen=resume.run_id if resume is not None else None,
        )
        attempt.run_id = run_id
        if status == RunStatus.SKIPPED:
            result = RunResult(
                run_id=run_id,
                user_id=account.user_id,
                trigger=trigger.value,
                dry_run=account.dry_run,
                status=status.value,
                quote=account.strategy.quote,
                value_before=plan.total_value,
                value_after=plan.total_value,
                orders=resume.prior if resume is not None else (),
                max_drift=plan.max_drift,
                threshold=plan.threshold,
                problem=Problem.MARKET_MOVED if market_moved else None,
                started_at=started,
                fresh_preview=await self.previews.store(preview) if market_moved else None,
            )
            return await self._recorder.finish(run_id, result, snap.balances, snap)
        return await self._execute(
            run_id, started, trigger, account, credentials, snap, plan, guard, resume
        )

    async def _checked_snapshot(
        self, account: Account, credentials: Credentials | None
    ) -> tuple[Snapshot, Credentials | None]:
        return await checked_snapshot(
            account,
            credentials,
            kill_switch=self.kill_switch,
            reconciler=self.reconciler,
            read=self._snapshot,
        )

    async def _execute(
        self,
        run_id: int,
        started: datetime,
        trigger: RunTrigger,
        account: Account,
        credentials: Credentials | None,
        snap: Snapshot,
        plan: TradePlan,
        guard: RunGuard,
        resume: Resume | None = None,
    ) -> RunResult:
        balances = dict(snap.balances)
        quote = account.strategy.quote
        salt = await self._recorder.order_id_salt()
        async with contextlib.AsyncExitStack() as stack:
            ex = None  # dry-run sends nothing: it needs no client (nor keys)
            if not account.dry_run and credentials is not None:
                hub = self._hubs.get(credentials.exchange_id)
                ex = await stack.enter_async_context(
                    hub.private(credentials.api_key, credentials.secret, credentials.passphrase)
                )
            executor = OrderExecutor(
                self._sessions,
                user_id=account.user_id,
                run_id=run_id,
                dry_run=account.dry_run,
                account=ex,
                prices=snap.prices,
                markets=snap.markets,
                quote=quote,
                salt=salt,
                checks=(guard.check, KillSwitch.check_in),
                leg_prefix=resume.leg_prefix if resume is not None else "",
                exchange_id=credentials.exchange_id if credentials else account.exchange_id,
            )
            await executor.place_legs(plan.sells, snap.markets, balances)
            if plan.buys and not executor.state.stop:
                # Buys are funded from what the sells really returned (their fills, net of
                # fees in the quote) on top of the balances read before the run: no second
                # balance read, and the fee reserve stays (see BENCHMARKS.md, "after the sells").
                buys, _dropped = rescale_buys(
                    plan.buys,
                    available_quote=balances.get(quote, Decimal(0)),
                    markets=snap.markets,
                    prices=snap.prices,
                    min_trade=account.strategy.min_trade,
                    reserve=fee_reserve(plan),
                )
                await executor.place_legs(buys, snap.markets, balances)
        state = executor.state
        outcomes = (resume.prior if resume is not None else ()) + tuple(state.outcomes)
        status = status_of(outcomes, state.problems)
        if state.stop and status == RunStatus.SUCCEEDED:
            status = RunStatus.PARTIAL if any(o.filled > 0 for o in outcomes) else RunStatus.FAILED
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
            problem=state.problems[0] if state.problems else None,
            started_at=started,
        )
        return await self._recorder.finish(run_id, result, balances, snap)

    def drain(self) -> int:
        """The process is stopping: see `Draining.drain`. Returns how many runs were let go."""
        return self.draining.drain()

    async def mark_notified(self, user_id: int, result: RunResult) -> None:
        await self._recorder.mark_notified(user_id, result.run_id)

    # --- reconciliation ------------------------------------------------------------------------

    async def reconcile(self) -> int:
        """Close runs whose owner is gone and look up every due unsettled order (at start-up,
        then periodically). Returns how many users were reconciled."""
        return await self.reconciler.reconcile()

    async def close(self) -> None:
        await self.locks.close()

"""Placing (or simulating) one run's orders, each recorded before it is sent and as it returns."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.domain.market import Market
from bot.domain.planner import PlannedLeg
from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    PermissionDenied,
    RateLimited,
    TemporaryExchangeError,
)
from bot.services.fills import (
    FEE_RATE,
    apply_fill,
    dependent_size,
    fee_value,
    fees_json,
    fees_of,
)
from bot.services.kill_switch import TradingHalted
from bot.services.run_lock import LockLost
from bot.services.run_result import OrderOutcome, Problem
from bot.services.venues import client_order_id as venue_client_order_id

log = logging.getLogger(__name__)

FIRST_LOOKUP_DELAY = timedelta(seconds=10)  # an unknown order's first reconcile lookup


class OrderAccount(Protocol):
    """What the executor needs from a user's exchange account (the gateway's private client)."""

    async def market_sell(self, symbol: str, amount: Decimal, client_order_id: str) -> Any: ...

    async def market_buy_cost(self, symbol: str, cost: Decimal, client_order_id: str) -> Any: ...


def client_order_id(salt: str, run_id: int, leg_id: str, exchange_id: str = "binance") -> str:
    """`rb<install salt><run>-<leg>`: unique per install, run and leg, so it always finds its
    order, and a reset database (a new salt) can never match an old order. Each exchange's
    alphabet and length (Binance 36 of [.A-Za-z0-9:/_-], OKX 32 alphanumerics, Bybit 36): see
    venues. It identifies; it does not stop a resend (see _place)."""
    return venue_client_order_id(exchange_id, salt, run_id, leg_id)


@dataclass
class Execution:
    """The running state of one run's orders: outcomes so far and what stopped it, if anything."""

    outcomes: list[OrderOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stop: bool = False  # an error that makes every further order pointless (bad key, exchange down)

    def add_problem(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


# Refusals: (error class, status to record, problem, whether the run stops). First match wins.
REFUSALS: tuple[tuple[type[ExchangeError], str, Problem, bool], ...] = (
    (AuthenticationFailed, "failed", Problem.AUTH, True),
    (PermissionDenied, "failed", Problem.PERMISSION, True),
    (InsufficientFunds, "failed", Problem.FUNDS, False),
    (InvalidOrder, "rejected", Problem.REJECTED, False),
    (ClockSkew, "rejected", Problem.CLOCK, True),
    # Refused before processing (429/418): not placed, and no point trying more now.
    (RateLimited, "not_sent", Problem.UNAVAILABLE, True),
    # A lost answer: the order may have executed. Never resent; reconciliation looks it up.
    (TemporaryExchangeError, "unknown", Problem.UNRESOLVED, True),
)


class OrderExecutor:
    """Sends one leg at a time; the database row exists before the request leaves."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        user_id: int,
        run_id: int,
        dry_run: bool,
        account: OrderAccount | None,
        prices: Mapping[str, Decimal],
        markets: Mapping[str, Market],
        quote: str,
        salt: str = "",
        checks: Sequence[Callable[[AsyncSession], Awaitable[None]]] = (),
        leg_prefix: str = "",
        exchange_id: str = "binance",
    ) -> None:
        self._sessions = session_factory
        self.exchange_id = exchange_id
        self.user_id = user_id
        self.run_id = run_id
        self.dry_run = dry_run
        self.account = account
        self.prices = prices
        self.markets = markets
        self.quote = quote
        self.salt = salt
        # Each raises to forbid the next order (lock lost, kill switch), inside the transaction
        # that records it: the row and the proof are written together, or neither.
        self.checks = checks
        # A continued run's attempt (see run_slots): its client ids differ from the first's.
        self.leg_prefix = leg_prefix
        self.state = Execution()

    async def _record_pending(
        self,
        cid: str,
        leg_id: str,
        symbol: str,
        side: str,
        amount: Decimal | None,
        cost: Decimal | None,
        outcome: OrderOutcome | None = None,
    ) -> None:
        """The order's row, written before it is sent (or, simulated, with its outcome)."""
        fields: dict[str, object] = {
            "client_order_id": cid,
            "leg_id": leg_id,
            "symbol": symbol,
            "side": side,
            "amount": amount,
            "cost": cost,
            "price": self.prices.get(symbol),
            "status": "pending",
            "sent_at": utcnow(),
        }
        if outcome is not None:
            fields.update(
                status=outcome.status,
                amount=outcome.amount,
                cost=outcome.cost,
                filled=outcome.filled,
                fees=fees_json(outcome.fees),
                fee_quote=outcome.fee_quote,
            )
        async with self._sessions() as session, session.begin():
            if outcome is None:
                for check in self.checks:
                    await check(session)
            await Repositories(session).orders.add(self.user_id, self.run_id, **fields)

    async def _record_outcome(self, outcome: OrderOutcome, exchange_order_id: str | None) -> None:
        async with self._sessions() as session, session.begin():
            order = await Repositories(session).orders.by_client_id(
                self.user_id, outcome.client_order_id
            )
            if order is None:  # pragma: no cover - recorded as pending just before
                return
            order.exchange_order_id = exchange_order_id
            order.status = outcome.status
            order.filled = outcome.filled
            order.cost = outcome.cost
            order.price = outcome.price
            order.fees = fees_json(outcome.fees)
            order.fee_quote = outcome.fee_quote
            order.error = outcome.error
            if outcome.amount is not None:
                order.amount = outcome.amount
            if not outcome.settled:
                order.next_check_at = utcnow() + FIRST_LOOKUP_DELAY

    def _simulate(
        self,
        cid: str,
        leg_id: str,
        symbol: str,
        side: str,
        amount: Decimal | None,
        cost: Decimal | None,
    ) -> OrderOutcome:
        price = self.prices[symbol]
        base, _slash, quote = symbol.partition("/")
        if side == "sell":
            filled = amount or Decimal(0)
            quote_cost = filled * price
            fees = {quote: quote_cost * FEE_RATE}
        else:
            quote_cost = cost or Decimal(0)
            filled = quote_cost / price
            fees = {base: filled * FEE_RATE}
        outcome = OrderOutcome(
            leg_id=leg_id,
            client_order_id=cid,
            side=side,
            symbol=symbol,
            status="simulated",
            amount=amount if side == "sell" else filled,
            filled=filled,
            cost=quote_cost,
            price=price,
            fees=fees,
        )
        return replace(outcome, fee_quote=self.fee_value(outcome))

    async def place(
        self,
        leg_id: str,
        symbol: str,
        side: str,
        *,
        amount: Decimal | None = None,
        cost: Decimal | None = None,
    ) -> OrderOutcome | None:
        """Place one leg (sell by base amount, buy by quote cost); None when the run must stop."""
        if self.state.stop:
            return None
        leg_id = self.leg_prefix + leg_id
        cid = client_order_id(self.salt, self.run_id, leg_id, self.exchange_id)
        exchange_order_id = None
        if self.dry_run or self.account is None:
            # Nothing leaves the process, so there is no in-flight state to protect: one write.
            outcome = self._simulate(cid, leg_id, symbol, side, amount, cost)
            await self._record_pending(cid, leg_id, symbol, side, amount, cost, outcome)
            self.state.outcomes.append(outcome)
            return outcome
        try:
            await self._record_pending(cid, leg_id, symbol, side, amount, cost)
        except TradingHalted:  # the operator's kill switch: this order and the rest stay home
            self.state.add_problem(Problem.HALTED)
            self.state.stop = True
            return None
        except LockLost:  # the user's run lock is no longer provably ours
            log.error("user %s run %s: run lock lost, no further order", self.user_id, self.run_id)
            self.state.add_problem(Problem.INTERNAL)
            self.state.stop = True
            return None
        try:
            if side == "sell":
                assert amount is not None  # noqa: S101 - the planner sizes sells by amount
                result = await self.account.market_sell(symbol, amount, cid)
            else:
                assert cost is not None  # noqa: S101 - and buys by cost
                result = await self.account.market_buy_cost(symbol, cost, cid)
        except ExchangeError as error:
            outcome = self._failure(cid, leg_id, symbol, side, amount, error)
        else:
            exchange_order_id = getattr(result, "exchange_order_id", None)
            outcome = self.outcome_of(leg_id, cid, side, symbol, amount, result)
            if outcome.status == "expired" or (
                outcome.amount is not None
                and outcome.filled < outcome.amount
                and outcome.status != "closed"
            ):
                self.state.add_problem(Problem.PARTIAL)
        await self._record_outcome(outcome, exchange_order_id)
        self.state.outcomes.append(outcome)
        return outcome

    async def place_legs(
        self,
        legs: Sequence[PlannedLeg],
        markets: Mapping[str, Market],
        balances: dict[str, Decimal],
    ) -> None:
        """Place legs in order, moving each fill through `balances`; a routed second hop is
        sized from what its first hop actually produced."""
        produced: dict[str, OrderOutcome] = {}
        for leg in legs:
            amount, cost = leg.amount, leg.cost
            if leg.depends_on:
                first = produced.get(leg.depends_on)
                if first is None or first.filled <= 0:
                    continue  # the first hop did not fill: nothing to pass on
                size = dependent_size(first, markets[leg.symbol])
                if size <= 0:
                    continue
                amount, cost = (size, None) if leg.side == "sell" else (None, size)
            outcome = await self.place(leg.leg_id, leg.symbol, leg.side, amount=amount, cost=cost)
            if outcome is None:
                return
            produced[leg.leg_id] = outcome
            apply_fill(balances, outcome)

    def _failure(
        self,
        cid: str,
        leg_id: str,
        symbol: str,
        side: str,
        amount: Decimal | None,
        error: ExchangeError,
    ) -> OrderOutcome:
        status, problem, stop = "rejected", Problem.REJECTED, False
        for kind, kind_status, kind_problem, kind_stop in REFUSALS:
            if isinstance(error, kind):
                status, problem, stop = kind_status, kind_problem, kind_stop
                break
        self.state.add_problem(problem)
        self.state.stop = self.state.stop or stop
        log.warning(
            "user %s run %s leg %s %s: %s -> %s",
            self.user_id,
            self.run_id,
            leg_id,
            type(error).__name__,
            error,
            status,
        )
        return OrderOutcome(
            leg_id=leg_id,
            client_order_id=cid,
            side=side,
            symbol=symbol,
            status=status,
            amount=amount,
            filled=Decimal(0),
            cost=Decimal(0),
            price=None,
            fees={},
            fee_quote=Decimal(0),
            error=type(error).__name__,
        )

    def outcome_of(
        self, leg_id: str, cid: str, side: str, symbol: str, amount: Decimal | None, result: Any
    ) -> OrderOutcome:
        """An exchange's order as our outcome; a cost the exchange cannot give is estimated."""
        cost = result.cost
        error = None
        if cost is None:
            cost = result.filled * self.prices.get(symbol, Decimal(0))
            error = "cost_estimated"
        price = result.average if result.average else None
        if price is None and result.filled > 0:
            price = cost / result.filled
        outcome = OrderOutcome(
            leg_id=leg_id,
            client_order_id=cid,
            side=side,
            symbol=symbol,
            status=str(result.status or "closed"),
            amount=result.amount if result.amount else amount,
            filled=result.filled,
            cost=cost,
            price=price,
            fees=result.fees,
            error=error,
        )
        return replace(outcome, fee_quote=self.fee_value(outcome))

    def fee_value(self, outcome: OrderOutcome) -> Decimal | None:
        return fee_value(fees_of(outcome), self.quote, self.prices, self.markets)

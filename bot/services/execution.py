"""Placing (or simulating) one run's orders, each recorded before it is sent and as it returns."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.domain.market import Market
from bot.errors import (
    AuthenticationFailed,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    PermissionDenied,
    TemporaryExchangeError,
)
from bot.services.run_result import OrderOutcome, Problem

log = logging.getLogger(__name__)

FEE_RATE = Decimal("0.001")  # Binance's default taker fee, used only to simulate dry-run fills


class OrderAccount(Protocol):
    """What the executor needs from a user's exchange account (the gateway's private client)."""

    async def market_sell(self, symbol: str, amount: Decimal, client_order_id: str) -> Any: ...

    async def market_buy_cost(self, symbol: str, cost: Decimal, client_order_id: str) -> Any: ...


def client_order_id(run_id: int, leg_id: str) -> str:
    """Deterministic per run and leg: a retry of the same leg can never become a second order."""
    return f"rb{run_id}-{leg_id}"[:36]


def round_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        return value
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


@dataclass
class Execution:
    """The running state of one run's orders: outcomes so far and what stopped it, if anything."""

    outcomes: list[OrderOutcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    stop: bool = False  # an error that makes every further order pointless (bad key, exchange down)

    def add_problem(self, problem: Problem) -> None:
        if problem not in self.problems:
            self.problems.append(problem)


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
        prices: dict[str, Decimal],
    ) -> None:
        self._sessions = session_factory
        self.user_id = user_id
        self.run_id = run_id
        self.dry_run = dry_run
        self.account = account
        self.prices = prices
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
        }
        if outcome is not None:
            fields.update(
                status=outcome.status,
                amount=outcome.amount,
                cost=outcome.cost,
                filled=outcome.filled,
                fee=outcome.fee,
                fee_currency=outcome.fee_currency,
            )
        async with self._sessions() as session, session.begin():
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
            order.fee = outcome.fee
            order.fee_currency = outcome.fee_currency
            order.error = outcome.error
            if outcome.amount is not None:
                order.amount = outcome.amount

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
            gross = filled * price
            fee, fee_currency = gross * FEE_RATE, quote
            quote_cost = gross
        else:
            quote_cost = cost or Decimal(0)
            filled = quote_cost / price
            fee, fee_currency = filled * FEE_RATE, base
        return OrderOutcome(
            leg_id=leg_id,
            client_order_id=cid,
            side=side,
            symbol=symbol,
            status="simulated",
            amount=amount if side == "sell" else filled,
            filled=filled,
            cost=quote_cost,
            price=price,
            fee=fee,
            fee_currency=fee_currency,
        )

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
        cid = client_order_id(self.run_id, leg_id)
        exchange_order_id = None
        if self.dry_run or self.account is None:
            # Nothing leaves the process, so there is no in-flight state to protect: one write.
            outcome = self._simulate(cid, leg_id, symbol, side, amount, cost)
            await self._record_pending(cid, leg_id, symbol, side, amount, cost, outcome)
            self.state.outcomes.append(outcome)
            return outcome
        await self._record_pending(cid, leg_id, symbol, side, amount, cost)
        try:
            if side == "sell":
                assert amount is not None  # noqa: S101 - the planner sizes sells by amount
                result = await self.account.market_sell(symbol, amount, cid)
            else:
                assert cost is not None  # noqa: S101 - and buys by cost
                result = await self.account.market_buy_cost(symbol, cost, cid)
        except ExchangeError as error:
            outcome = self._failure(cid, leg_id, symbol, side, amount, cost, error)
        else:
            exchange_order_id = getattr(result, "exchange_order_id", None)
            outcome = _outcome_from_result(leg_id, cid, side, symbol, amount, result)
            if outcome.status == "expired" or (
                outcome.amount is not None
                and outcome.filled < outcome.amount
                and outcome.status != "closed"
            ):
                self.state.add_problem(Problem.PARTIAL)
        await self._record_outcome(outcome, exchange_order_id)
        self.state.outcomes.append(outcome)
        return outcome

    def _failure(
        self,
        cid: str,
        leg_id: str,
        symbol: str,
        side: str,
        amount: Decimal | None,
        cost: Decimal | None,
        error: ExchangeError,
    ) -> OrderOutcome:
        status = "failed"
        if isinstance(error, AuthenticationFailed):
            self.state.add_problem(Problem.AUTH)
            self.state.stop = True
        elif isinstance(error, PermissionDenied):
            self.state.add_problem(Problem.PERMISSION)
            self.state.stop = True
        elif isinstance(error, InsufficientFunds):
            self.state.add_problem(Problem.FUNDS)
        elif isinstance(error, InvalidOrder):
            self.state.add_problem(Problem.REJECTED)
        elif isinstance(error, TemporaryExchangeError):
            # The gateway could not establish whether the order exists: never guess, never
            # resend. The order stays "unknown" until reconciliation looks it up by its id.
            status = "unknown"
            self.state.add_problem(Problem.UNAVAILABLE)
            self.state.stop = True
        else:
            self.state.add_problem(Problem.REJECTED)
        log.warning(
            "user %s run %s leg %s %s: %s",
            self.user_id,
            self.run_id,
            leg_id,
            type(error).__name__,
            error,
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
            fee=Decimal(0),
            fee_currency=None,
            error=type(error).__name__,
        )


def _dec(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def _outcome_from_result(
    leg_id: str, cid: str, side: str, symbol: str, amount: Decimal | None, result: Any
) -> OrderOutcome:
    return OrderOutcome(
        leg_id=leg_id,
        client_order_id=cid,
        side=side,
        symbol=symbol,
        status=str(getattr(result, "status", "closed") or "closed"),
        amount=_dec(getattr(result, "amount", None)) if getattr(result, "amount", None) else amount,
        filled=_dec(getattr(result, "filled", 0)),
        cost=_dec(getattr(result, "cost", 0)),
        price=_dec(getattr(result, "average", None)) if getattr(result, "average", None) else None,
        fee=None if getattr(result, "fee_cost", None) is None else _dec(result.fee_cost),
        fee_currency=getattr(result, "fee_currency", None),
    )


def received(outcome: OrderOutcome) -> Decimal:
    """What an order put into the account, net of a fee taken from the received asset."""
    base, _slash, quote = outcome.symbol.partition("/")
    if outcome.side == "sell":
        got, currency = outcome.cost, quote
    else:
        got, currency = outcome.filled, base
    if outcome.fee is None:  # not reported: assume the standard fee came out of what we got
        got -= got * FEE_RATE
    elif outcome.fee_currency == currency:
        got -= outcome.fee
    return max(got, Decimal(0))


def apply_fill(balances: dict[str, Decimal], outcome: OrderOutcome) -> None:
    """Move a fill through in-memory balances (dry-run's 'fresh balances', and the final value)."""
    base, _slash, quote = outcome.symbol.partition("/")
    if outcome.filled <= 0:
        return
    if outcome.side == "sell":
        balances[base] = balances.get(base, Decimal(0)) - outcome.filled
        balances[quote] = balances.get(quote, Decimal(0)) + received(outcome)
    else:
        balances[quote] = balances.get(quote, Decimal(0)) - outcome.cost
        balances[base] = balances.get(base, Decimal(0)) + received(outcome)
    if outcome.fee is not None and outcome.fee_currency not in (None, base, quote) and outcome.fee:
        # BNB paying the fee shrinks the BNB position.
        currency = outcome.fee_currency
        balances[currency] = balances.get(currency, Decimal(0)) - outcome.fee


def dependent_size(outcome: OrderOutcome, market: Market) -> Decimal:
    """The size of a routed second hop: what the first hop actually produced, rounded."""
    got = received(outcome)
    if outcome.side == "sell":
        return round_step(got, market.amount_step)
    return got

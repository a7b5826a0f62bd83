"""What a rebalance run returns to the chat: plain values, no ORM rows, no exchange objects."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


def plan_facts(plan: dict[str, Any] | None) -> dict[str, dict[str, Decimal]]:
    """The weights and targets a stored plan was made from (runs recorded before they were
    stored have none)."""
    plan = plan or {}
    return {
        key: {asset: Decimal(str(value)) for asset, value in (plan.get(key) or {}).items()}
        for key in ("weights", "targets")
    }


class Problem(enum.StrEnum):
    """Why a run did not simply succeed, in terms the user can act on."""

    AUTH = "auth"  # the key stopped working: automation pauses
    PERMISSION = "permission"  # the key lost a permission it needs
    FUNDS = "funds"  # insufficient funds for an order
    UNAVAILABLE = "unavailable"  # exchange down or rate limited: retry at the next run
    PARTIAL = "partial"  # an order filled only in part
    REJECTED = "rejected"  # the exchange refused an order (filters)
    MARKET_MOVED = "market_moved"  # the confirmed preview no longer matches the market
    NO_PRICES = "no_prices"  # some holdings cannot be valued
    UNRESOLVED = "unresolved"  # the exchange has not said what became of an order yet
    CLOCK = "clock"  # the exchange refuses our timestamps even after re-reading its clock
    TARGETS = "targets"  # the targets no longer work (an asset delisted, ...): detail says why
    NOT_CONFIGURED = "not_configured"  # keys or targets missing
    HALTED = "halted"  # the operator's kill switch is on: no order may leave
    INTERNAL = "internal"  # our fault: logged, the user gets an apology


# Order statuses that do not yet say what the exchange did: on the reconcile list.
UNSETTLED = ("pending", "unknown")


@dataclass(frozen=True, slots=True)
class LegView:
    """One planned trade, for the preview."""

    leg_id: str
    side: str  # "buy" | "sell"
    symbol: str
    asset: str  # the asset whose weight the leg changes
    amount: Decimal | None  # base amount (sells)
    value: Decimal  # approximate value in the portfolio's quote asset
    cost: Decimal | None = None  # quote amount (buys)
    base_amount: Decimal | None = None  # in the market's base: exact (sells) or approx (buys)

    @property
    def base(self) -> str:
        return self.symbol.partition("/")[0]


@dataclass(frozen=True, slots=True)
class DroppedView:
    asset: str
    side: str
    value: Decimal
    reason: str  # the planner's drop reason code


@dataclass(frozen=True, slots=True)
class Preview:
    """A plan shown before anything trades; Confirm carries its id back to `Rebalancer.run`."""

    user_id: int
    quote: str
    dry_run: bool
    total_value: Decimal
    legs: tuple[LegView, ...]
    dropped: tuple[DroppedView, ...]
    drift_before: dict[str, Decimal]
    drift_after: dict[str, Decimal]
    current_weights: dict[str, Decimal]
    target_weights: dict[str, Decimal]
    holdings: dict[str, tuple[Decimal, Decimal]]  # asset -> (amount, value)
    max_drift: Decimal
    threshold: Decimal
    needs_rebalance: bool
    estimated_fees: Decimal
    unpriced: tuple[str, ...] = ()
    created_at: datetime | None = None
    unsettled_orders: int = 0  # earlier orders the exchange has not accounted for: trading waits
    preview_id: int | None = None  # stored: a Confirm carries this back
    strategy_version: int = 0  # the strategy it was planned from
    dust: tuple[str, ...] = ()  # holdings too small to trade, left out of the drift
    min_trade: Decimal = Decimal(0)  # the user's minimum trade, in the quote

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """Which trades the plan makes (side and market), in order."""
        return tuple((leg.side, leg.symbol) for leg in self.legs)


@dataclass(frozen=True, slots=True)
class OrderOutcome:
    """One order as the exchange (or the simulation) returned it."""

    leg_id: str
    client_order_id: str
    side: str
    symbol: str
    # closed | expired | canceled | rejected | failed | not_sent | not_placed | simulated |
    # unknown (sent, the answer lost and lookups have not found it yet)
    status: str
    amount: Decimal | None
    filled: Decimal
    cost: Decimal
    price: Decimal | None
    fees: dict[str, Decimal] | None  # per currency; None when the exchange did not report it
    fee_quote: Decimal | None = None  # the fees in the run's quote, each at its own price
    error: str | None = None

    @property
    def settled(self) -> bool:
        return self.status not in UNSETTLED


@dataclass(frozen=True, slots=True)
class RunResult:
    """The outcome of one run, for the chat and the notification."""

    run_id: int | None
    user_id: int
    trigger: str
    dry_run: bool
    status: str  # a RunStatus value
    quote: str
    orders: tuple[OrderOutcome, ...] = ()
    value_before: Decimal | None = None
    value_after: Decimal | None = None
    max_drift: Decimal | None = None
    threshold: Decimal | None = None
    problem: Problem | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # safe, user-facing facts of a problem
    started_at: datetime | None = None
    finished_at: datetime | None = None
    # A Confirm whose preview no longer matches: the plan the user would confirm now.
    fresh_preview: Preview | None = None
    # A queued run delivered again that had already finished: this is its stored result.
    repeated: bool = False
    number: int | None = None  # the user's own run number (#1, #2, ...)
    weights_before: dict[str, Decimal] = field(default_factory=dict)  # % of the value
    targets: dict[str, Decimal] = field(default_factory=dict)  # % of the value
    drift_after: Decimal | None = None  # the largest drift once the run was over, in points

    @property
    def legs_past_threshold(self) -> tuple[tuple[str, Decimal, Decimal], ...]:
        """(asset, weight, target) of the assets whose drift passed the threshold: why the
        run traded. Largest drift first."""
        if self.threshold is None:
            return ()
        assets = set(self.weights_before) | set(self.targets)
        past = [
            (a, self.weights_before.get(a, Decimal(0)), self.targets.get(a, Decimal(0)))
            for a in assets
        ]
        past = [p for p in past if abs(p[1] - p[2]) > self.threshold]
        return tuple(sorted(past, key=lambda p: (-abs(p[1] - p[2]), p[0])))

    @property
    def traded(self) -> bool:
        return any(order.filled > 0 for order in self.orders)

    @property
    def unsettled(self) -> tuple[OrderOutcome, ...]:
        return tuple(order for order in self.orders if not order.settled)

    def to_json(self) -> dict[str, Any]:
        """A compact JSON-safe summary for TraderSession.last_result."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "trigger": self.trigger,
            "quote": self.quote,
            "orders": len(self.orders),
            "value_before": None if self.value_before is None else str(self.value_before),
            "value_after": None if self.value_after is None else str(self.value_after),
            "max_drift": None if self.max_drift is None else str(self.max_drift),
            "drift_after": None if self.drift_after is None else str(self.drift_after),
            "number": self.number,
            "problem": None if self.problem is None else self.problem.value,
            "finished_at": None if self.finished_at is None else self.finished_at.isoformat(),
        }

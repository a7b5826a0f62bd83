"""The plan phase of a run: the domain planner on a snapshot, and the preview the chat shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bot.db.types import utcnow
from bot.domain.planner import DEFAULT_FEE_RESERVE, TradePlan, plan_rebalance
from bot.domain.valuation import value_portfolio
from bot.services.accounts import Account
from bot.services.run_result import DroppedView, LegView, Preview
from bot.services.run_snapshot import Snapshot

PREVIEW_TTL = timedelta(minutes=2)


def plan_for(snap: Snapshot) -> TradePlan:
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


def fee_reserve(plan: TradePlan) -> Any:
    """The quote the plan keeps back for fees and slippage; buys after the sells keep it too."""
    return plan.total_value * DEFAULT_FEE_RESERVE


def _base_amount(leg: Any, prices: Mapping[str, Decimal]) -> Decimal | None:
    """The leg's size in its market's base: a sell's amount, a buy's cost at the price now."""
    if leg.amount is not None:
        return Decimal(leg.amount)
    price = prices.get(leg.symbol)
    if leg.cost is None or not price:
        return None
    return Decimal(leg.cost) / Decimal(price)


def preview_of(
    user_id: int, account: Account, plan: TradePlan, prices: Mapping[str, Decimal] | None = None
) -> Preview:
    """What the chat shows of a plan: sells first, then buys."""
    valuation = plan.valuation
    legs = tuple(
        LegView(
            leg_id=leg.leg_id,
            side=leg.side,
            symbol=leg.symbol,
            asset=leg.asset,
            amount=leg.amount,
            value=leg.value,
            cost=leg.cost,
            base_amount=_base_amount(leg, prices or {}),
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
        strategy_version=account.strategy.version,
        dust=tuple(h.asset for h in valuation.holdings if h.dust),
        min_trade=account.strategy.min_trade,
    )


def holdings_preview(user_id: int, account: Account, snap: Snapshot) -> Preview:
    """What the account holds, valued, before any targets exist: no plan, no drift."""
    quote = account.strategy.quote
    valuation = value_portfolio(
        {a: b for a, b in snap.balances.items() if b > 0}, snap.prices, snap.markets, quote
    )
    return Preview(
        user_id=user_id,
        quote=quote,
        dry_run=account.dry_run,
        total_value=valuation.total_value,
        legs=(),
        dropped=(),
        drift_before={},
        drift_after={},
        current_weights={h.asset: h.weight for h in valuation.holdings},
        target_weights={},
        holdings={h.asset: (h.amount, h.value) for h in valuation.holdings},
        max_drift=Decimal(0),
        threshold=account.strategy.threshold,
        needs_rebalance=False,
        estimated_fees=Decimal(0),
        unpriced=tuple(valuation.unpriced),
        created_at=utcnow(),
        dust=tuple(h.asset for h in valuation.holdings if h.dust),
    )


# How far a fresh plan's leg may be from the one shown and still be the plan the user
# confirmed: prices move in two minutes, a deposit or a changed target moves far more.
LEG_TOLERANCE = Decimal("0.03")  # of the leg's value
PORTFOLIO_TOLERANCE = Decimal("0.002")  # of the portfolio: small legs may move a little more


def matches(shown: Preview, fresh: Preview) -> bool:
    """Whether `fresh` is still the plan the user saw in `shown`: the same mode and strategy,
    the same orders in the same order, each of about the same size."""
    if shown.dry_run != fresh.dry_run or shown.strategy_version != fresh.strategy_version:
        return False
    if shown.signature != fresh.signature:
        return False
    slack = fresh.total_value * PORTFOLIO_TOLERANCE
    for old, new in zip(shown.legs, fresh.legs, strict=True):
        if abs(new.value - old.value) > max(old.value * LEG_TOLERANCE, slack):
            return False
    return True


def stored_legs(preview: Preview) -> list[dict[str, Any]]:
    return [
        {
            "leg_id": leg.leg_id,
            "side": leg.side,
            "symbol": leg.symbol,
            "asset": leg.asset,
            "amount": None if leg.amount is None else str(leg.amount),
            "cost": None if leg.cost is None else str(leg.cost),
            "value": str(leg.value),
            "base_amount": None if leg.base_amount is None else str(leg.base_amount),
        }
        for leg in preview.legs
    ]


def shown_preview(user_id: int, row: Any) -> Preview:
    """A stored preview as the Preview the user saw (enough of it to compare a fresh plan)."""

    def dec(value: Any) -> Decimal | None:
        return None if value is None else Decimal(str(value))

    legs = tuple(
        LegView(
            leg_id=leg.get("leg_id", ""),
            side=leg["side"],
            symbol=leg["symbol"],
            asset=leg["asset"],
            amount=dec(leg.get("amount")),
            value=Decimal(str(leg["value"])),
            cost=dec(leg.get("cost")),
            base_amount=dec(leg.get("base_amount")),
        )
        for leg in row.legs
    )
    return Preview(
        user_id=user_id,
        quote=row.quote_asset,
        dry_run=row.dry_run,
        total_value=row.total_value,
        legs=legs,
        dropped=(),
        drift_before={},
        drift_after={},
        current_weights={},
        target_weights={},
        holdings={},
        max_drift=Decimal(0),
        threshold=Decimal(0),
        needs_rebalance=True,
        estimated_fees=Decimal(0),
        created_at=row.created_at,
        preview_id=row.id,
        strategy_version=row.strategy_version,
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
        "weights": {asset: str(weight) for asset, weight in preview.current_weights.items()},
    }

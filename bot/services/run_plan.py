"""The plan phase of a run: the domain planner on a snapshot, and the preview the chat shows."""

from __future__ import annotations

from typing import Any

from bot.db.types import utcnow
from bot.domain.planner import DEFAULT_FEE_RESERVE, TradePlan, plan_rebalance
from bot.services.accounts import Account
from bot.services.run_result import DroppedView, LegView, Preview
from bot.services.run_snapshot import Snapshot


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


def preview_of(user_id: int, account: Account, plan: TradePlan) -> Preview:
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

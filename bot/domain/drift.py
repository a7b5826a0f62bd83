"""Drift in absolute percentage points, and the decision whether it is worth a trade."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

ZERO = Decimal(0)


def drift_points(
    current: Mapping[str, Decimal], targets: Mapping[str, Decimal]
) -> dict[str, Decimal]:
    """current - target per asset over both sets: 45% held against 50% is -5 points."""
    return {
        asset: current.get(asset, ZERO) - targets.get(asset, ZERO)
        for asset in sorted(set(current) | set(targets))
    }


def max_drift(drifts: Mapping[str, Decimal]) -> Decimal:
    return max((abs(value) for value in drifts.values()), default=ZERO)


def needs_rebalance(drifts: Mapping[str, Decimal], threshold: Decimal) -> bool:
    """True when some asset is further than `threshold` points off; threshold 0 means any drift."""
    largest = max_drift(drifts)
    return largest > threshold if threshold > 0 else largest > ZERO

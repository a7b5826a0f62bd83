"""Planner speed: median time per plan for a 20-asset portfolio over 10,000 plans."""

from __future__ import annotations

import random
import statistics
import time
from decimal import Decimal

from bench.common import save, table
from bot.domain.market import Market
from bot.domain.planner import plan_rebalance

ASSETS = [
    "BTC",
    "ETH",
    "BNB",
    "SOL",
    "XRP",
    "ADA",
    "DOGE",
    "LTC",
    "DOT",
    "LINK",
    "TRX",
    "AVAX",
    "ATOM",
    "NEAR",
    "APT",
    "ARB",
    "OP",
    "SUI",
    "FIL",
]
PLANS = 10_000


def case(rng: random.Random) -> dict[str, object]:
    markets, prices, balances = {}, {}, {"USDT": Decimal(rng.randint(0, 5000))}
    for asset in ASSETS:
        symbol = f"{asset}/USDT"
        price = Decimal(rng.randint(10, 6_000_000)) / 100
        step = Decimal("0.0001")
        markets[symbol] = Market(
            symbol, asset, "USDT", step, Decimal("0.01"), step, None, None, Decimal(5)
        )
        prices[symbol] = price
        balances[asset] = (Decimal(rng.randint(0, 2000)) / price).quantize(step)
    targets = {a: Decimal(5) for a in ASSETS} | {"USDT": Decimal(5)}
    return {"balances": balances, "prices": prices, "markets": markets, "targets": targets}


def main() -> None:
    rng = random.Random(7)
    cases = [case(rng) for _ in range(100)]
    timings = []
    legs = 0
    for i in range(PLANS):
        c = cases[i % len(cases)]
        started = time.perf_counter()
        plan = plan_rebalance(quote="USDT", threshold=Decimal(1), **c)  # type: ignore[arg-type]
        timings.append(time.perf_counter() - started)
        legs += len(plan.sells) + len(plan.buys)
    median_ms = statistics.median(timings) * 1000
    figures = {
        "plans": PLANS,
        "assets_per_portfolio": len(ASSETS) + 1,
        "median_ms_per_plan": round(median_ms, 3),
        "p99_ms_per_plan": round(sorted(timings)[int(PLANS * 0.99)] * 1000, 3),
        "legs_per_plan": round(legs / PLANS, 1),
        "target_ms": 1.0,
        "met": median_ms < 1.0,
    }
    table("Planner (20 assets + quote)", figures)
    save("planner", figures, ".venv/bin/python -m bench.planner")


if __name__ == "__main__":
    main()

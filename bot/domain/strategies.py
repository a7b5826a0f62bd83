"""Strategies to target weights (percent, summing to exactly 100): fixed, equal, index."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from bot.domain.market import MarketCapEntry
from bot.errors import InvalidTargets, ValidationError

HUNDRED = Decimal(100)
STEP = Decimal("0.01")  # weights are kept to hundredths of a percent
SUM_TOLERANCE = Decimal("0.01")  # 33.33 + 33.33 + 33.33 is accepted as 100

# Maintained deny-list backing the sources' own stablecoin tags.
STABLECOINS = frozenset(
    {
        "USDT",
        "USDC",
        "BUSD",
        "DAI",
        "FDUSD",
        "TUSD",
        "USDP",
        "USDD",
        "PYUSD",
        "USDE",
        "GUSD",
        "FRAX",
        "LUSD",
        "EURC",
        "EURT",
        "USDS",
        "USD1",
        "RLUSD",
        "SUSD",
        "CRVUSD",
        "GHO",
        "USDJ",
        "UST",
        "USTC",
        "EURS",
        "XAUT",
        "PAXG",
        "BFUSD",
        "USDX",
        "USDB",
        "USD0",
        "AEUR",
        "EURI",
        "USDG",
        "USDT0",
    }
)


def _finish(
    weights: dict[str, Decimal], *, keep_below: Decimal | None = None
) -> dict[str, Decimal]:
    """Round to hundredths and give the rounding remainder to the largest eligible weight."""
    rounded = {a: w.quantize(STEP, rounding=ROUND_DOWN) for a, w in weights.items()}
    remainder = HUNDRED - sum(rounded.values())
    if remainder:
        eligible = [
            a for a in rounded if keep_below is None or rounded[a] + remainder <= keep_below
        ] or list(rounded)
        target = max(eligible, key=lambda a: (rounded[a], a))
        rounded[target] += remainder
    return dict(sorted(rounded.items()))


def _unknown(assets: Iterable[str], known: set[str]) -> None:
    missing = sorted({a for a in assets if a not in known})
    if missing:
        raise InvalidTargets(
            "Unknown assets: {assets}. Example: /targets BTC 50 ETH 30 USDT 20",
            assets=", ".join(missing),
        )


def fixed_weights(weights: Mapping[str, Decimal], known_assets: set[str]) -> dict[str, Decimal]:
    if not weights:
        raise InvalidTargets("Give at least one asset and weight. Example: /targets BTC 50 ETH 50")
    _unknown(weights, known_assets)
    bad = sorted(a for a, w in weights.items() if w <= 0)
    if bad:
        raise InvalidTargets("Weights must be above 0: {assets}.", assets=", ".join(bad))
    total = sum(weights.values(), Decimal(0))
    if abs(total - HUNDRED) > SUM_TOLERANCE:
        raise InvalidTargets(
            "Weights must sum to 100, yours sum to {total}. Example: /targets BTC 50 ETH 30 USDT 20",  # noqa: E501
            total=format(total.normalize(), "f"),
        )
    return _finish({a: w * HUNDRED / total for a, w in weights.items()})


def equal_weights(assets: Iterable[str], known_assets: set[str]) -> dict[str, Decimal]:
    """Equal shares in the order the user named the assets; the rounding remainder (0.01 for
    three) goes to the last one, so `BTC ETH SOL` reads 33.33, 33.33, 33.34."""
    unique = list(dict.fromkeys(assets))
    if len(unique) < 2:
        raise InvalidTargets("Name at least two assets. Example: /targets equal BTC ETH SOL")
    _unknown(unique, known_assets)
    share = (HUNDRED / len(unique)).quantize(STEP, rounding=ROUND_DOWN)
    weights = dict.fromkeys(unique, share)
    weights[unique[-1]] += HUNDRED - share * len(unique)
    return weights


def check_cap(cap: Decimal, count: int) -> None:
    """A cap is only possible if `count` assets at the cap can reach 100%."""
    if cap * count < HUNDRED:
        raise ValidationError(
            "A cap of {cap} percent cannot hold with {count} assets (together they must reach 100). "  # noqa: E501
            "Raise the cap or the number of assets.",
            cap=format(cap.normalize(), "f"),
            count=count,
        )


def cap_weights(weights: dict[str, Decimal], cap: Decimal) -> dict[str, Decimal]:
    """Limit every weight to `cap`, handing the excess to the others in proportion, until stable."""
    check_cap(cap, len(weights))
    result = dict(weights)
    capped: set[str] = set()
    for _round in range(len(result) + 1):
        over = {a for a, w in result.items() if w > cap and a not in capped}
        if not over:
            break
        excess = sum((result[a] - cap for a in over), Decimal(0))
        for asset in over:
            result[asset] = cap
        capped |= over
        free = {a: w for a, w in result.items() if a not in capped}
        base = sum(free.values(), Decimal(0))
        for asset, weight in free.items():
            result[asset] = weight + excess * weight / base if base > 0 else cap
    return result


@dataclass(frozen=True, slots=True)
class SkippedCoin:
    """A coin ranked inside the index that was passed over, and why."""

    symbol: str
    reason: str  # "no_market" | "excluded" | "stablecoin"


def index_selection(
    entries: Iterable[MarketCapEntry],
    *,
    size: int,
    exclusions: set[str],
    tradable: set[str],
    stablecoins: frozenset[str] = STABLECOINS,
) -> tuple[list[MarketCapEntry], list[SkippedCoin]]:
    """The top `size` tradable, non-stable, non-excluded coins (a skipped coin's slot goes to
    the next-ranked one), and the coins passed over on the way."""
    chosen: list[MarketCapEntry] = []
    skipped: list[SkippedCoin] = []
    seen: set[str] = set()
    for entry in sorted(entries, key=lambda e: (e.rank, -e.market_cap)):
        symbol = entry.symbol.upper()
        if symbol in seen or entry.market_cap <= 0:
            continue
        seen.add(symbol)
        if entry.is_stablecoin or symbol in stablecoins:
            skipped.append(SkippedCoin(symbol, "stablecoin"))
        elif symbol in exclusions:
            skipped.append(SkippedCoin(symbol, "excluded"))
        elif symbol not in tradable:
            skipped.append(SkippedCoin(symbol, "no_market"))
        else:
            chosen.append(entry)
            if len(chosen) == size:
                break
    return chosen, skipped


def index_weights(
    entries: Iterable[MarketCapEntry],
    *,
    size: int,
    cap: Decimal | None,
    exclusions: set[str],
    tradable: set[str],
    stablecoins: frozenset[str] = STABLECOINS,
) -> dict[str, Decimal]:
    """Top `size` by market cap among tradable, non-stable, non-excluded coins, capped."""
    chosen, _skipped = index_selection(
        entries, size=size, exclusions=exclusions, tradable=tradable, stablecoins=stablecoins
    )
    if len(chosen) < 2:
        raise ValidationError(
            "Not enough coins for an index: only {count} qualify. Use fewer exclusions.",
            count=len(chosen),
        )
    total = sum((e.market_cap for e in chosen), Decimal(0))
    weights = {e.symbol.upper(): e.market_cap / total * HUNDRED for e in chosen}
    if cap is not None:
        weights = cap_weights(weights, cap)
    return _finish(weights, keep_below=cap)

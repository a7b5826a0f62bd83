"""Monospace tables that fit a phone (about 32 columns): columns padded, never wrapped."""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal

from bot.i18n import fmt_decimal, fmt_money
from bot.views.common import escape

PHONE_COLUMNS = 32
SIGNIFICANT = 6  # an amount shows at most this many significant digits


def _round(value: Decimal, places: int) -> Decimal:
    """Half up, as people round (Python's round() rounds half to even)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def amount(value: Decimal) -> str:
    """A coin amount: exact when it is short (a market's step), else 6 significant digits,
    never a '-0'."""
    if value == 0:
        return "0"
    places = max(0, min(8, SIGNIFICANT - 1 - value.adjusted()))
    rounded = _round(value, places)
    return "0" if rounded == 0 else fmt_decimal(rounded)


def fixed(value: Decimal, places: int, *, signed: bool = False) -> str:
    """A number with `places` decimals, with thousands separators; never '-0.0'."""
    rounded = _round(value, places)
    if rounded == 0:
        rounded = abs(rounded)
    text = fmt_decimal(rounded, places=places)
    return "+" + text if signed and rounded > 0 else text


def money(value: Decimal, currency: str) -> str:
    """An amount of a quote currency in a cell: 2 decimals for stablecoins (as fmt_money),
    else as an amount."""
    text = html.unescape(fmt_money(value, currency))
    return text.rsplit(" ", 1)[0]


def table(
    header: Sequence[str] | None, rows: Sequence[Sequence[str]], right: Sequence[bool]
) -> str:
    """`<pre>` text, each column left- or right-aligned as `right` says. Cells are plain text;
    they are escaped here."""
    every = [*([header] if header is not None else []), *rows]
    widths = [max(len(row[i]) for row in every) for i in range(len(right))]
    lines = []
    for row in every:
        cells = [
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append(" ".join(cells).rstrip())
    return "<pre>" + escape("\n".join(lines)) + "</pre>"


def short(asset: str, width: int = 6) -> str:
    """An asset code cut to fit its column (very long codes are rare; the cut is marked)."""
    return asset if len(asset) <= width else asset[: width - 1] + "…"

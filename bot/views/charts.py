"""Charts as PNG bytes (matplotlib, Agg backend): allocation against targets, value over time.

matplotlib is imported inside the functions: it costs about a second, and most processes (and
every test that never draws) should not pay it at start-up.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.i18n import _, fmt_datetime, fmt_decimal, fmt_money

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 200  # 2x: sharp on phone screens (1400 x 800 pixels)
SIZE = (7, 4)
PORTFOLIO_COLOR = "#4C72B0"
TARGET_COLOR = "#DD8452"
HOLD_COLOR = "#8C8C8C"
TRADE_COLOR = "#C44E52"
BAND_COLOR = "#555555"
MIN_SPAN_POINTS = 2.0  # the % axis shows at least this range, so cents never look like a cliff
SHORT_SPAN = timedelta(days=3)  # shorter than this: ticks show the time of day with the date


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def allocation_chart(
    current: dict[str, Decimal],
    target: dict[str, Decimal],
    *,
    title: str,
    labels: tuple[str, str],
    threshold: Decimal | None = None,
    total: Decimal | None = None,
    quote: str = "",
    when: datetime | None = None,
    timezone: str = "UTC",
) -> bytes:
    """Grouped bars of current and target weight per asset, each labelled (0 % too), with the
    band within which no trade is made around each target, and the total and time on top."""
    plt = _pyplot()
    assets = sorted(
        set(current) | set(target), key=lambda a: -(target.get(a) or current.get(a) or 0)
    )
    now = [float(current.get(a, 0)) for a in assets]
    goal = [float(target.get(a, 0)) for a in assets]
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    try:
        positions = list(range(len(assets)))
        width = 0.38
        if threshold is not None and threshold > 0:
            _threshold_band(ax, positions, goal, float(threshold), width)
        bars_now = ax.bar(
            [p - width / 2 for p in positions], now, width, label=labels[0], color=PORTFOLIO_COLOR
        )
        bars_goal = ax.bar(
            [p + width / 2 for p in positions], goal, width, label=labels[1], color=TARGET_COLOR
        )
        for bars, values in ((bars_now, now), (bars_goal, goal)):
            ax.bar_label(bars, labels=[_percent(v) for v in values], padding=2, fontsize=7)
        ax.set_xticks(positions, assets)
        ax.set_ylabel("%")
        ax.set_ylim(0, max([*now, *goal, 1.0]) * 1.18)
        ax.set_title(_allocation_title(title, total, quote, when, timezone), fontsize=11)
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        return _png(fig)
    finally:
        plt.close(fig)


def _threshold_band(
    ax: Axes, positions: list[int], goal: list[float], threshold: float, width: float
) -> None:
    label = _("No trade within ±{threshold} pp").format(threshold=fmt_decimal(Decimal(threshold)))
    for index, (position, value) in enumerate(zip(positions, goal, strict=True)):
        ax.fill_between(
            [position - width, position + width],
            max(0.0, value - threshold),
            value + threshold,
            facecolor=BAND_COLOR,
            edgecolor=BAND_COLOR,
            alpha=0.22,
            linewidth=0.8,
            linestyle="--",
            zorder=3,  # over the bars: the band is what the current bar is judged against
            label=label if index == 0 else None,
        )


def _percent(value: float) -> str:
    return fmt_decimal(Decimal(str(round(value, 1))), places=1) + " %"


def _allocation_title(
    title: str, total: Decimal | None, quote: str, when: datetime | None, timezone: str
) -> str:
    details = []
    if total is not None:
        details.append(fmt_money(total, quote))
    if when is not None:
        details.append(fmt_datetime(when, timezone))
    return title + ("\n" + " · ".join(details) if details else "")


def value_chart(
    series: Sequence[tuple[datetime, Decimal]],
    *,
    title: str,
    quote: str,
    timezone: str = "UTC",
    hold: Sequence[tuple[datetime, Decimal]] = (),
    trades: Sequence[datetime] = (),
) -> bytes:
    """The portfolio's change since its first value, in percent, beside simply holding the
    first holdings; runs that traded marked; times in the user's timezone."""
    plt = _pyplot()
    import matplotlib.dates as mdates

    zone = ZoneInfo(timezone)
    start = series[0][1]
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    try:
        times = [t for t, _v in series]
        change = [_change(v, start) for _t, v in series]
        marker = "o" if len(series) < 30 else None
        ax.plot(
            times, change, marker=marker, markersize=3, color=PORTFOLIO_COLOR, label=_("Portfolio")
        )
        shown = list(change)
        if hold:
            hold_change = [_change(v, start) for _t, v in hold]
            ax.plot(
                [t for t, _v in hold],
                hold_change,
                color=HOLD_COLOR,
                linestyle="--",
                label=_("Buy and hold"),
            )
            shown += hold_change
        marked = set(trades)
        traded = [(t, c) for t, c in zip(times, change, strict=True) if t in marked]
        if traded:
            ax.scatter(
                [t for t, _c in traded],
                [c for _t, c in traded],
                marker="D",
                s=28,
                color=TRADE_COLOR,
                zorder=3,
                label=_("Rebalanced"),
            )
        ax.axhline(0, color="#333333", linewidth=0.6, alpha=0.5)
        ax.set_ylim(*_y_range(shown))
        ax.set_ylabel(_("Change since start, %"))
        ax.set_title(_value_title(title, series, quote), fontsize=11)
        span = times[-1] - times[0]
        pattern = "%d.%m %H:%M" if span < SHORT_SPAN else "%d.%m.%Y"
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=zone, maxticks=7))
        ax.xaxis.set_major_formatter(mdates.DateFormatter(pattern, tz=zone))
        ax.set_xlabel(timezone, fontsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.autofmt_xdate()
        return _png(fig)
    finally:
        plt.close(fig)


def _change(value: Decimal, start: Decimal) -> float:
    return float((value - start) / start * 100) if start > 0 else 0.0


def _y_range(values: list[float]) -> tuple[float, float]:
    """At least MIN_SPAN_POINTS tall around the data: 0.10 USDT on 1,000 stays a flat line."""
    low, high = min(values), max(values)
    if high - low < MIN_SPAN_POINTS:
        middle = (high + low) / 2
        low, high = middle - MIN_SPAN_POINTS / 2, middle + MIN_SPAN_POINTS / 2
    pad = (high - low) * 0.08  # no point on the frame
    return low - pad, high + pad


def _value_title(title: str, series: Sequence[tuple[datetime, Decimal]], quote: str) -> str:
    first, last = series[0][1], series[-1][1]
    return f"{title}\n{fmt_money(first, quote)} → {fmt_money(last, quote)}"


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()

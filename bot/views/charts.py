"""Charts as PNG bytes (matplotlib, Agg backend): allocation against targets, value over time."""

from __future__ import annotations

import io
from datetime import datetime
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

DPI = 100


def allocation_chart(
    current: dict[str, Decimal], target: dict[str, Decimal], *, title: str, labels: tuple[str, str]
) -> bytes:
    """Grouped bars: current weight against target weight per asset, in percent."""
    assets = sorted(
        set(current) | set(target), key=lambda a: -(target.get(a) or current.get(a) or 0)
    )
    now = [float(current.get(a, 0)) for a in assets]
    goal = [float(target.get(a, 0)) for a in assets]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=DPI)
    try:
        positions = range(len(assets))
        width = 0.4
        ax.bar([p - width / 2 for p in positions], now, width, label=labels[0], color="#4C72B0")
        ax.bar([p + width / 2 for p in positions], goal, width, label=labels[1], color="#DD8452")
        ax.set_xticks(list(positions), assets)
        ax.set_ylabel("%")
        ax.set_title(title)
        ax.legend()
        ax.grid(axis="y", alpha=0.3)
        return _png(fig)
    finally:
        plt.close(fig)


def value_chart(series: list[tuple[datetime, Decimal]], *, title: str, quote: str) -> bytes:
    """Portfolio value over time."""
    fig, ax = plt.subplots(figsize=(7, 4), dpi=DPI)
    try:
        times = [t for t, _v in series]
        values = [float(v) for _t, v in series]
        marker = "o" if len(values) < 30 else None
        ax.plot(times, values, marker=marker, color="#4C72B0")  # type: ignore[arg-type]
        ax.set_ylabel(quote)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        fig.autofmt_xdate()
        return _png(fig)
    finally:
        plt.close(fig)


def _png(fig: plt.Figure) -> bytes:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()

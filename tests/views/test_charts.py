"""Charts render for each case and tell the truth: times in the user's zone, a buy-and-hold
line, a % axis that does not magnify cents, trade markers, labelled bars with the no-trade band.

Set SAVE_CHARTS=/some/folder to keep the PNGs and look at them.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.i18n import use_locale
from bot.services.history import hold_series
from bot.views import charts

START = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)


def _size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    return width, height


def _keep(name: str, png: bytes) -> None:
    folder = os.environ.get("SAVE_CHARTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / f"{name}.png").write_bytes(png)


@pytest.mark.parametrize("language", ["en", "uk"])
def test_value_chart_short_span_with_hold_line_and_trades(language: str) -> None:
    times = [START + timedelta(hours=2 * i) for i in range(6)]
    values = [Decimal(v) for v in ("1000", "1004.2", "998.7", "1011.9", "1007.3", "1015.0")]
    hold = [Decimal(v) for v in ("1000", "1006.0", "995.1", "1013.4", "1003.8", "1009.9")]
    with use_locale(language):
        png = charts.value_chart(
            list(zip(times, values, strict=True)),
            title="Portfolio value" if language == "en" else "Вартість портфеля",
            quote="USDT",
            timezone="Europe/Kyiv",
            hold=list(zip(times, hold, strict=True)),
            trades=[times[1], times[3]],
        )
    assert _size(png) == (1400, 800)  # 2x for phone screens
    _keep(f"value_short_{language}", png)


def test_value_chart_one_mode_long_span_without_hold() -> None:
    times = [START + timedelta(days=3 * i) for i in range(40)]
    values = [Decimal(5000) + Decimal(i * 37 % 211) - Decimal(i * 11) for i in range(40)]
    with use_locale("en"):
        png = charts.value_chart(
            list(zip(times, values, strict=True)),
            title="Portfolio value (dry run)",
            quote="USDT",
            timezone="America/New_York",
        )
    assert _size(png) == (1400, 800)
    _keep("value_long_one_mode", png)


def test_cents_do_not_look_like_a_cliff() -> None:
    times = [START, START + timedelta(hours=1), START + timedelta(hours=2)]
    values = [Decimal("1000.00"), Decimal("999.90"), Decimal("1000.05")]
    low, high = charts._y_range([charts._change(v, values[0]) for v in values])
    assert high - low >= charts.MIN_SPAN_POINTS  # -0.01 % on a 2-point axis: a flat line
    with use_locale("en"):
        png = charts.value_chart(
            list(zip(times, values, strict=True)), title="Portfolio value", quote="USDT"
        )
    _keep("value_cents", png)


@pytest.mark.parametrize("language", ["en", "uk"])
def test_allocation_chart_labels_every_bar_and_draws_the_band(language: str) -> None:
    current = {
        "BTC": Decimal("58.8"),
        "ETH": Decimal("31.2"),
        "SOL": Decimal("0"),
        "USDT": Decimal("10"),
    }
    target = {
        "BTC": Decimal("40"),
        "ETH": Decimal("30"),
        "SOL": Decimal("20"),
        "USDT": Decimal("10"),
    }
    with use_locale(language):
        png = charts.allocation_chart(
            current,
            target,
            title="Current vs target allocation"
            if language == "en"
            else "Поточний і цільовий розподіл",
            labels=("Current", "Target") if language == "en" else ("Зараз", "Ціль"),
            threshold=Decimal(5),
            total=Decimal("1234.56"),
            quote="USDT",
            when=START,
            timezone="Europe/Kyiv",
        )
    assert _size(png) == (1400, 800)
    _keep(f"allocation_{language}", png)


def test_buy_and_hold_series_prices_the_first_holdings_at_each_snapshot() -> None:
    def snap(hours: int, holdings: dict[str, tuple[str, str]]) -> SimpleNamespace:
        return SimpleNamespace(
            taken_at=START + timedelta(hours=hours),
            holdings={
                a: {"amount": amount, "value": value} for a, (amount, value) in holdings.items()
            },
        )

    snapshots = [
        snap(0, {"BTC": ("0.01", "500"), "USDT": ("500", "500")}),
        # Rebalanced into ETH; BTC doubled in price (0.005 BTC worth 500 now).
        snap(1, {"BTC": ("0.005", "500"), "ETH": ("0.2", "600"), "USDT": ("100", "100")}),
        # BTC sold out: its last known price is kept.
        snap(2, {"ETH": ("0.4", "1000"), "USDT": ("200", "200")}),
    ]
    points = hold_series(snapshots)
    assert [value for _t, value in points] == [Decimal(1000), Decimal(1500), Decimal(1500)]


def test_importing_the_bot_does_not_import_matplotlib() -> None:
    code = "import sys, bot.app; print('matplotlib' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"

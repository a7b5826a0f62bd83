"""Real Binance bodies (published or captured; sources in binance/bodies.json) for replay."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent / "binance"


@cache
def bodies() -> dict[str, Any]:
    return json.loads((HERE / "bodies.json").read_text())


@cache
def symbols_2023() -> list[dict[str, Any]]:
    """The 1,289 TRADING spot symbols of a real 2023-10 exchangeInfo, with their filters."""
    with gzip.open(HERE / "exchange_info_symbols_2023-10.json.gz", "rt") as fh:
        return list(json.load(fh))


@cache
def exchange_info_2025() -> dict[str, Any]:
    return json.loads((HERE / "exchange_info_btcusdt_2025-08.json").read_text())


def error_bodies() -> dict[str, dict[str, Any]]:
    """errors.md bodies with the HTTP status Binance sends each with."""
    return dict(bodies()["errors"]["bodies"])

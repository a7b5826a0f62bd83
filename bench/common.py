"""Shared helpers for benchmarks: results as JSON in bench/results and a printed table."""

from __future__ import annotations

import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def suffix() -> str:
    """Result files name the database they ran on, when it is not the default SQLite."""
    return "_postgres" if os.environ.get("BENCH_DATABASE_URL") else ""


async def database_url(folder: str) -> str:
    """BENCH_DATABASE_URL (emptied first: the benchmark owns it) or an SQLite file in `folder`."""
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{folder}/bench.db"
    from sqlalchemy import text

    from bot.db.engine import make_engine

    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()
    return url


def save(name: str, figures: dict[str, Any], command: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}{suffix()}.json"
    payload = {
        "benchmark": name,
        "command": command,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "figures": figures,
    }
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def table(title: str, rows: dict[str, Any]) -> None:
    width = max(len(k) for k in rows)
    print(f"\n{title}")
    print("-" * (width + 24))
    for key, value in rows.items():
        print(f"{key:<{width}}  {value}")

"""A plain Account value for view tests (no database): every field set, any one overridable."""

from __future__ import annotations

from typing import Any

from bot.services.accounts import Account, Strategy


def sample_account(**changes: Any) -> Account:
    values: dict[str, Any] = {
        "user_id": 1,
        "telegram_id": 1001,
        "language": "en",
        "timezone": "UTC",
        "blocked_bot": False,
        "exchange_id": "binance",
        "has_keys": True,
        "key_hint": "…a1b2",
        "permissions": {"enableReading": True, "enableSpotAndMarginTrading": True},
        "ip_restricted": False,
        "has_cmc_key": False,
        "interval_seconds": 14400,
        "is_running": False,
        "dry_run": True,
        "notify_level": "all",
        "paused_reason": None,
        "next_run_at": None,
        "last_run_at": None,
        "last_result": None,
        "strategy": Strategy(),
    }
    values.update(changes)
    return Account(**values)

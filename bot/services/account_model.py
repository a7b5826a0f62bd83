"""What an account is: its strategy, settings, schedule and credentials, as the services pass
them around (plain values, no database)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from bot.db.models import (
    PortfolioTarget,
    StrategyKind,
    TraderSession,
    User,
    UserProfile,
)


@dataclass(frozen=True, slots=True)
class Strategy:
    """The user's targets as stored: percent per asset (fixed/equal), or the index's settings."""

    kind: str = StrategyKind.FIXED.value
    quote: str = "USDT"
    weights: dict[str, Decimal] = field(default_factory=dict)
    index_size: int | None = None
    index_cap: Decimal | None = None
    exclusions: tuple[str, ...] = ()
    threshold: Decimal = Decimal(5)
    min_trade: Decimal = Decimal(10)
    version: int = 1  # bumped by every change to what a plan is made from

    @property
    def is_set(self) -> bool:
        return bool(self.weights) or (
            self.kind == StrategyKind.INDEX.value and bool(self.index_size)
        )


@dataclass(frozen=True, slots=True)
class Account:
    """Everything the chat shows about one user, as plain values."""

    user_id: int
    telegram_id: int
    language: str
    timezone: str
    blocked_bot: bool
    exchange_id: str
    has_keys: bool
    key_hint: str | None
    permissions: dict[str, Any] | None
    ip_restricted: bool | None
    has_cmc_key: bool
    interval_seconds: int
    is_running: bool
    dry_run: bool
    notify_level: str
    paused_reason: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_result: dict[str, Any] | None
    strategy: Strategy
    failure_streak: int = 0
    unsettled_orders: int = 0  # orders the exchange has not accounted for yet (runs only)
    paper_balances: dict[str, Decimal] | None = None  # dry-run's wallet; None: seed it anew


@dataclass(frozen=True, slots=True)
class Schedule:
    """One enabled user's automation, as the scheduler needs it at start-up."""

    user_id: int
    chat_id: int
    interval_seconds: int
    next_run_at: datetime | None
    timezone: str = "UTC"  # whole-day intervals keep the local time of day in it


@dataclass(frozen=True, slots=True)
class Credentials:
    """Decrypted exchange credentials: live only for one call, never logged (see __repr__)."""

    exchange_id: str
    api_key: str
    secret: str
    passphrase: str | None = None

    def __repr__(self) -> str:
        return f"Credentials(exchange_id={self.exchange_id!r}, api_key=***, secret=***)"


def key_hint(api_key: str) -> str:
    """The last four characters: enough to recognise a key, useless to an attacker."""
    return "…" + api_key[-4:]


def account_of(
    user: User, profile: UserProfile, trader: TraderSession, target: PortfolioTarget
) -> Account:
    return Account(
        user_id=user.id,
        telegram_id=user.telegram_id,
        language=user.language,
        timezone=user.timezone,
        blocked_bot=user.blocked_bot,
        exchange_id=profile.exchange_id,
        has_keys=profile.has_credentials,
        key_hint=profile.key_hint,
        permissions=profile.permissions,
        ip_restricted=profile.ip_restricted,
        has_cmc_key=bool(profile.cmc_api_key_encrypted),
        interval_seconds=profile.default_interval,
        is_running=trader.is_running,
        dry_run=trader.dry_run,
        notify_level=trader.notify_level,
        paused_reason=trader.paused_reason,
        paper_balances=None
        if trader.paper_balances is None
        else {a: Decimal(str(v)) for a, v in trader.paper_balances.items()},
        next_run_at=trader.next_run_at,
        last_run_at=trader.last_run_at,
        last_result=trader.last_result,
        strategy=strategy_of(target),
        failure_streak=trader.failure_streak,
    )


def strategy_of(target: PortfolioTarget) -> Strategy:
    return Strategy(
        kind=target.kind,
        quote=target.quote_asset,
        weights={asset: Decimal(str(w)) for asset, w in (target.weights or {}).items()},
        index_size=target.index_size,
        index_cap=target.index_cap,
        exclusions=tuple(target.exclusions or ()),
        threshold=target.threshold,
        min_trade=target.min_trade,
        version=target.version,
    )


def bump_version(target: PortfolioTarget) -> None:
    """The strategy changed: a preview shown before this is not the plan any more."""
    target.version = (target.version or 1) + 1

"""A run's first phase: may it plan at all, and on what? The kill switch, the keys, orders
still unsettled, the snapshot, and every target priced; else Refused, saying why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot.db.types import utcnow
from bot.domain.valuation import price_in_quote
from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    ExchangeError,
    NotConfigured,
    PermissionDenied,
    RunInProgress,
    ShuttingDown,
    TemporaryExchangeError,
    UserError,
)
from bot.services.accounts import Account, Credentials
from bot.services.kill_switch import KillSwitch
from bot.services.reconcile import Reconciler
from bot.services.run_result import Problem
from bot.services.run_snapshot import Snapshot

READ_FAILURES: tuple[tuple[type[ExchangeError], Problem], ...] = (
    (AuthenticationFailed, Problem.AUTH),
    (PermissionDenied, Problem.PERMISSION),
    (ClockSkew, Problem.CLOCK),
    (TemporaryExchangeError, Problem.UNAVAILABLE),
)


def detail_of(error: UserError) -> dict[str, Any]:
    """A user error's msgid and fields, so the view can say exactly what is wrong."""
    return {"message": error.message, "params": {k: str(v) for k, v in error.params.items()}}


class Refused(Exception):
    """A run that cannot plan: recorded as failed with this problem."""

    def __init__(self, problem: Problem, error: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.problem, self.error, self.detail = problem, error, detail


async def checked_snapshot(
    account: Account,
    credentials: Credentials | None,
    *,
    kill_switch: KillSwitch,
    reconciler: Reconciler,
    read: Callable[[Account, Credentials | None], Awaitable[Snapshot]],
) -> tuple[Snapshot, Credentials | None]:
    """The snapshot a plan may be made from, or Refused saying why there is none."""
    if await kill_switch.is_on():
        raise Refused(Problem.HALTED, "halted")
    if credentials is None and not account.dry_run:  # dry-run trades a paper wallet
        missing = NotConfigured("Connect your exchange first with /keys.")
        raise Refused(Problem.NOT_CONFIGURED, "not_configured", detail_of(missing))
    if not account.dry_run and account.unsettled_orders:
        remaining = await reconciler.reconcile_user(account.user_id, everything=True)
        if Reconciler.blocking(remaining, utcnow()):
            raise Refused(Problem.UNRESOLVED, "unresolved")
    try:
        snap = await read(account, credentials)
    except ExchangeError as error:
        problem = next((p for kind, p in READ_FAILURES if isinstance(error, kind)), None)
        if problem is None:
            raise
        raise Refused(problem, type(error).__name__) from error
    except (ShuttingDown, RunInProgress):
        raise
    except NotConfigured as error:  # no targets (or a market-cap key that stopped working)
        raise Refused(Problem.NOT_CONFIGURED, "not_configured", detail_of(error)) from error
    except UserError as error:  # the targets no longer work (a delisted asset, ...)
        raise Refused(Problem.TARGETS, "targets", detail_of(error)) from error
    quote = account.strategy.quote
    unpriced = sorted(
        a
        for a, w in snap.targets.items()
        if w > 0 and price_in_quote(a, quote, snap.prices, snap.markets) is None
    )
    if unpriced:  # its weight would count as drift for ever: trade nothing instead
        raise Refused(Problem.NO_PRICES, "no_prices", {"assets": unpriced})
    return snap, credentials

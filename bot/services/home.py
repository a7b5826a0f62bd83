"""The home screen's numbers (/status, a set-up /start): value and largest drift now, or the
last known ones with their time when the exchange is slow."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.errors import ExchangeError, UserError
from bot.services.rebalancer import Rebalancer

log = logging.getLogger(__name__)

HOME_TIMEOUT_SECONDS = 3.0  # longer than this, the last known values are shown instead


@dataclass(frozen=True, slots=True)
class HomeNumbers:
    value: Decimal | None
    quote: str
    max_drift: Decimal | None  # None: unknown (no targets, or nothing known yet)
    as_of: datetime | None  # None: read just now; else when these last known values were true


class HomeService:
    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        rebalancer: Rebalancer,
        timeout: float = HOME_TIMEOUT_SECONDS,
    ) -> None:
        self._sessions = session_factory
        self._rebalancer = rebalancer
        self.timeout = timeout

    async def numbers(self, user_id: int, *, dry_run: bool, quote: str) -> HomeNumbers:
        """Through the shared price cache and the user's read budget, never waiting long."""
        try:
            preview = await asyncio.wait_for(
                self._rebalancer.preview(user_id, holdings_only_ok=True), self.timeout
            )
        except (TimeoutError, ExchangeError, UserError) as error:
            log.info("user %s: home screen from last known values (%s)", user_id, type(error))
            return await self.last_known(user_id, dry_run=dry_run, quote=quote)
        drift = preview.max_drift if preview.target_weights else None
        return HomeNumbers(preview.total_value, preview.quote, drift, None)

    async def last_known(self, user_id: int, *, dry_run: bool, quote: str) -> HomeNumbers:
        """The latest snapshot of the current mode, and the drift its run left."""
        async with self._sessions() as session:
            repos = Repositories(session)
            series = await repos.snapshots.series(user_id, dry_run=dry_run, limit=1)
            trader = await repos.sessions.get(user_id)
        if not series:
            return HomeNumbers(None, quote, None, None)
        last = series[-1]
        result = (trader.last_result if trader is not None else None) or {}
        drift = result.get("drift_after") or result.get("max_drift")
        return HomeNumbers(
            last.total_value,
            last.quote_asset,
            Decimal(str(drift)) if drift is not None else None,
            last.taken_at,
        )

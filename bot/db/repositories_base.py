"""What every repository shares."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

UNSETTLED_ORDERS = ("pending", "unknown")


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

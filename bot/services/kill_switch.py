"""The operator's kill switch: one persisted, global fact, checked before every order.

It lives in the database (app_state), so it survives restarts and binds every process on the
database; the check runs inside the transaction that records an order about to be sent, so a
switch thrown mid-run stops the very next order, scheduled or manual.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories
from bot.errors import UserError

KEY = "kill_switch"
ON = "on"


class TradingHalted(UserError):
    """The operator stopped all trading; nothing is sent until `/admin resume`."""


def halted() -> TradingHalted:
    return TradingHalted(
        "Trading is paused by the bot's operator for everyone right now. Nothing was traded; "
        "please try again later."
    )


class KillSwitch:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = session_factory

    async def is_on(self) -> bool:
        async with self._sessions() as session:
            return await Repositories(session).state.get(KEY) == ON

    async def set(self, on: bool) -> None:
        async with self._sessions() as session, session.begin():
            state = Repositories(session).state
            if on:
                await state.set(KEY, ON)
            else:
                await state.delete(KEY)

    @staticmethod
    async def check_in(session: AsyncSession) -> None:
        """Raise TradingHalted when the switch is on, as part of `session`'s transaction."""
        if await Repositories(session).state.get(KEY) == ON:
            raise halted()

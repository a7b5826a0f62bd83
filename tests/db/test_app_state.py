"""Process-wide state: set, read back, first writer wins."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.repositories import Repositories


async def test_app_state_round_trip(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        assert await repos.state.get("kill_switch") is None
        await repos.state.set("kill_switch", "on")
    async with session_factory() as session, session.begin():
        repos = Repositories(session)
        assert await repos.state.get("kill_switch") == "on"
        await repos.state.set("kill_switch", "off")
        assert await repos.state.get("kill_switch") == "off"
        await repos.state.delete("kill_switch")
        assert await repos.state.get("kill_switch") is None


async def test_setdefault_keeps_the_first_value(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    async with session_factory() as session, session.begin():
        assert await Repositories(session).state.setdefault("install_salt", "first") == "first"
    async with session_factory() as session, session.begin():
        assert await Repositories(session).state.setdefault("install_salt", "second") == "first"

"""One run per user at a time, across every process on the database.

PostgreSQL: a session-level advisory lock per user, held on a connection of its own for the
whole run; PostgreSQL frees it the moment that connection (or its process) dies. SQLite: a
lease row with an expiry, renewed while the run lives; a dead process's lease runs out.
Either way `RunGuard.check()` runs before every order: an order leaves only while the lock is
provably still ours.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Protocol

from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from bot.db.engine import make_engine
from bot.db.models import RunLease
from bot.db.types import utcnow
from bot.errors import BotError, RunInProgress

log = logging.getLogger(__name__)

LOCK_NAMESPACE = 0x52424C01  # advisory locks are (namespace, user id) pairs: ours are apart
LEASE_SECONDS = 60.0
DEFAULT_MAX_CONCURRENT = 32


class LockLost(BotError):
    """The run's lock is no longer provably ours (its connection died, its lease expired):
    no further order may leave."""


class RunGuard(Protocol):
    async def check(self, session: AsyncSession | None = None) -> None:
        """Raise LockLost unless the lock is provably ours; with `session`, the proof is part
        of that transaction (the one that records the order about to be sent)."""


def _busy() -> RunInProgress:
    return RunInProgress("A rebalance is already running for you. Please wait a moment.")


def process_owner() -> str:
    """This process, as a lease owner: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner is a process of this host that no longer exists. A SQLite
    file is served from one host, so a killed process's leases need not wait out their time;
    anything we cannot be sure of counts as alive (its lease then simply expires)."""
    host, _sep, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid_text.isdecimal():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # ours: another RunLocks of this process (tests) is alive
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, someone else's
        return False
    return False


class _AdvisoryGuard:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def check(self, session: AsyncSession | None = None) -> None:
        # The lock is a session lock we never release early: while its connection answers,
        # it is held; if the connection died, PostgreSQL has already let it go.
        try:
            await self._connection.scalar(text("SELECT 1"))
            await self._connection.commit()
        except Exception as error:
            raise LockLost(f"lock connection failed: {type(error).__name__}") from error


class _LeaseGuard:
    def __init__(self, locks: RunLocks, user_id: int) -> None:
        self._locks = locks
        self._user_id = user_id

    async def check(self, session: AsyncSession | None = None) -> None:
        if not await self._locks.renew(self._user_id, session):
            raise LockLost("lease expired or taken")


class RunLocks:
    """`async with locks.hold(user_id) as guard:` runs alone for that user, or raises
    RunInProgress at once. At most `max_concurrent` runs hold a lock in this process (on
    PostgreSQL each holds a connection of the lock pool), later ones wait their turn."""

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        lease_seconds: float = LEASE_SECONDS,
        owner: str | None = None,
    ) -> None:
        self._sessions = session_factory
        engine = session_factory.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError("the session factory must be bound to an AsyncEngine")
        self._engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self.owner = owner or process_owner()
        self.lease_seconds = lease_seconds
        self.max_concurrent = max_concurrent
        self._slots = asyncio.Semaphore(max_concurrent)
        self._held: set[int] = set()
        self._lock_engine: AsyncEngine | None = None

    def held_here(self, user_id: int) -> bool:
        return user_id in self._held

    @asynccontextmanager
    async def hold(self, user_id: int) -> AsyncIterator[RunGuard]:
        if user_id in self._held:
            raise _busy()
        async with self._slots:
            if user_id in self._held:
                raise _busy()
            self._held.add(user_id)
            try:
                if self.postgres:
                    async with self._advisory(user_id) as guard:
                        yield guard
                else:
                    async with self._lease(user_id) as lease_guard:
                        yield lease_guard
            finally:
                self._held.discard(user_id)

    # --- PostgreSQL -------------------------------------------------------------------------

    def _locking_engine(self) -> AsyncEngine:
        if self._lock_engine is None:
            url = self._engine.url.render_as_string(hide_password=False)
            self._lock_engine = make_engine(
                url, pool_size=self.max_concurrent, max_overflow=0, pool_timeout=60
            )
        return self._lock_engine

    @asynccontextmanager
    async def _advisory(self, user_id: int) -> AsyncIterator[RunGuard]:
        params = {"ns": LOCK_NAMESPACE, "uid": user_id}
        async with self._locking_engine().connect() as connection:
            got = await connection.scalar(text("SELECT pg_try_advisory_lock(:ns, :uid)"), params)
            await connection.commit()
            if not got:
                raise _busy()
            try:
                yield _AdvisoryGuard(connection)
            finally:
                try:
                    await connection.execute(text("SELECT pg_advisory_unlock(:ns, :uid)"), params)
                    await connection.commit()
                except Exception:  # the connection died: PostgreSQL freed the lock with it
                    log.warning("user %s: advisory unlock failed", user_id, exc_info=True)
                    await connection.invalidate()

    # --- SQLite -----------------------------------------------------------------------------

    @asynccontextmanager
    async def _lease(self, user_id: int) -> AsyncIterator[RunGuard]:
        if not await self._take_lease(user_id):
            raise _busy()
        heartbeat = asyncio.create_task(self._heartbeat(user_id))
        try:
            yield _LeaseGuard(self, user_id)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await asyncio.shield(self._release_lease(user_id))

    async def _take_lease(self, user_id: int) -> bool:
        now = utcnow()
        until = now + timedelta(seconds=self.lease_seconds)
        statement = (
            sqlite_insert(RunLease)
            .values(user_id=user_id, owner=self.owner, expires_at=until)
            .on_conflict_do_update(
                index_elements=[RunLease.user_id],
                set_={"owner": self.owner, "expires_at": until},
                where=RunLease.expires_at < now,
            )
        )
        async with self._sessions() as session, session.begin():
            await session.execute(statement)
            owner = await session.scalar(select(RunLease.owner).where(RunLease.user_id == user_id))
            if owner is not None and owner != self.owner and owner_is_dead(owner):
                log.info("user %s: taking over the run lease of dead process %s", user_id, owner)
                await session.execute(
                    update(RunLease)
                    .where(RunLease.user_id == user_id, RunLease.owner == owner)
                    .values(owner=self.owner, expires_at=until)
                )
                owner = self.owner
        return owner == self.owner

    async def renew(self, user_id: int, session: AsyncSession | None = None) -> bool:
        """Extend our lease; False when it is no longer ours (expired and taken, or gone)."""
        until = utcnow() + timedelta(seconds=self.lease_seconds)
        statement = (
            update(RunLease)
            .where(
                RunLease.user_id == user_id,
                RunLease.owner == self.owner,
                RunLease.expires_at >= utcnow(),
            )
            .values(expires_at=until)
        )
        if session is not None:
            result = await session.execute(statement)
        else:
            async with self._sessions() as own, own.begin():
                result = await own.execute(statement)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _heartbeat(self, user_id: int) -> None:
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                if not await self.renew(user_id):
                    log.error("user %s: run lease lost", user_id)
                    return
            except Exception:
                log.warning("user %s: lease renewal failed", user_id, exc_info=True)

    async def _release_lease(self, user_id: int) -> None:
        async with self._sessions() as session, session.begin():
            await session.execute(
                delete(RunLease).where(RunLease.user_id == user_id, RunLease.owner == self.owner)
            )

    async def close(self) -> None:
        if self._lock_engine is not None:
            await self._lock_engine.dispose()
            self._lock_engine = None

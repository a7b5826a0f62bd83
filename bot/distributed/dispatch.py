"""The scheduler's side of the queue: enqueue a run once per (user, slot), assign shards,
and send again what Redis lost (the database is the source of truth)."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from taskiq.kicker import AsyncKicker

from bot.config import Settings
from bot.db.models import QueuedRun, RebalanceRun, RunTrigger, User
from bot.db.types import utcnow
from bot.distributed.broker import (
    EPOCH_KEY,
    RUN_LABELS,
    RUN_TASK,
    TICK_TASK,
    WORKERS_GROUP,
    WORKERS_KEY,
    make_broker,
    queue_name,
    queue_url,
)

log = logging.getLogger(__name__)

WORKER_ALIVE_SECONDS = 60.0  # a worker's heartbeat older than this: not counted for new users
BATCH = 500  # enqueues written in one statement


@dataclass(slots=True)
class _Request:
    user_id: int
    trigger: str
    slot: str
    preview_id: int | None
    message_id: int | None
    future: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Dispatcher:
    def __init__(self, settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._settings = settings
        self._sessions = sessions
        self._broker = make_broker(settings, settings.worker_shard)
        self.redis: Redis = Redis.from_url(queue_url(settings))
        self._started = False
        self.redis_was_lost = False  # the last sweep found Redis emptied
        self._pending: list[_Request] = []
        self._flusher: asyncio.Task[None] | None = None

    async def _start(self) -> None:
        if not self._started:
            await self._broker.startup()
            self._started = True

    async def close(self) -> None:
        if self._started:
            await self._broker.shutdown()
        await self.redis.aclose()

    # --- shards ------------------------------------------------------------------------------

    async def live_shards(self) -> set[str]:
        beats = await self.redis.hgetall(WORKERS_KEY)
        now = time.time()
        return {
            (key.decode() if isinstance(key, bytes) else key).partition("|")[0]
            for key, beat in beats.items()
            if now - float(beat) < WORKER_ALIVE_SECONDS
        }

    async def shard_of(self, user_id: int) -> str:
        return (await self._shards([user_id]))[user_id]

    async def _shards(self, user_ids: list[int]) -> dict[int, str]:
        """Each user's shard; new users go to the least loaded known shard (alive, or
        configured in SHARD_IPS), spread evenly within one batch."""
        async with self._sessions() as session, session.begin():
            rows = await session.execute(select(User.id, User.shard).where(User.id.in_(user_ids)))
            shards: dict[int, str | None] = dict(rows.all())
            new = [uid for uid in user_ids if shards.get(uid) is None]
            if new:
                known = (await self.live_shards()) | set(self._settings.shard_ips)
                if not known:
                    known = {self._settings.worker_shard}
                counted = await session.execute(
                    select(User.shard, func.count())
                    .where(User.shard.in_(known))
                    .group_by(User.shard)
                )
                load: dict[str, int] = {name: count for name, count in counted.all() if name}
                chosen: dict[str, list[int]] = {}
                for uid in new:
                    shard = min(sorted(known), key=lambda name: load.get(name, 0))
                    load[shard] = load.get(shard, 0) + 1
                    chosen.setdefault(shard, []).append(uid)
                    shards[uid] = shard
                for shard, uids in chosen.items():
                    await session.execute(update(User).where(User.id.in_(uids)).values(shard=shard))
        return {uid: shard or self._settings.worker_shard for uid, shard in shards.items()}

    async def public_ip(self, user_id: int) -> str | None:
        """The egress IP of the user's shard (SHARD_IPS), to restrict their key to."""
        return self._settings.shard_ips.get(await self.shard_of(user_id))

    # --- enqueue -----------------------------------------------------------------------------

    async def enqueue(
        self,
        user_id: int,
        trigger: RunTrigger | str,
        slot: str,
        *,
        preview_id: int | None = None,
        message_id: int | None = None,
    ) -> bool:
        """Send the run to its shard's queue, once: False when this slot was enqueued already
        (by us, or by a scheduler that held the lock before us). Calls arriving together (a
        wave of due jobs) are written in one statement and sent in one Redis round trip."""
        await self._start()
        item = _Request(user_id, RunTrigger(trigger).value, slot, preview_id, message_id)
        self._pending.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await item.future

    async def _flush(self) -> None:
        await asyncio.sleep(0)  # let the jobs due in this same moment join the batch
        while self._pending:
            batch, self._pending = self._pending[:BATCH], self._pending[BATCH:]
            try:
                await self._write(batch)
            except Exception as error:
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(error)

    async def _write(self, batch: list[_Request]) -> None:
        shards = await self._shards(sorted({item.user_id for item in batch}))
        now = utcnow()
        unique = {(item.user_id, item.slot): item for item in batch}
        statement = (
            pg_insert(QueuedRun)
            .values(
                [
                    {
                        "user_id": item.user_id,
                        "slot": item.slot,
                        "trigger": item.trigger,
                        "shard": shards[item.user_id],
                        "preview_id": item.preview_id,
                        "message_id": item.message_id,
                        "enqueued_at": now,
                        "sends": 1,
                    }
                    for item in unique.values()
                ]
            )
            .on_conflict_do_nothing(index_elements=[QueuedRun.user_id, QueuedRun.slot])
            .returning(QueuedRun.user_id, QueuedRun.slot)
        )
        async with self._sessions() as session, session.begin():
            inserted = set((await session.execute(statement)).all())
        sends = [item for key, item in unique.items() if key in inserted]
        await self._kick_many(
            [
                (i.user_id, i.trigger, i.slot, shards[i.user_id], i.preview_id, i.message_id)
                for i in sends
            ]
        )
        for item in batch:
            if not item.future.done():
                key = (item.user_id, item.slot)
                item.future.set_result(key in inserted and unique[key] is item)

    async def _kick_many(
        self, items: list[tuple[int, str, str, str, int | None, int | None]]
    ) -> None:
        """Many runs in one Redis round trip (what the broker's kick does, pipelined)."""
        if not items:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for user_id, trigger, slot, shard, preview_id, message_id in items:
                labels: dict[str, Any] = dict(RUN_LABELS, queue_name=queue_name(shard))
                kicker: AsyncKicker[Any, None] = AsyncKicker(RUN_TASK, self._broker, labels)
                message = kicker._prepare_message(  # the broker's own message format
                    user_id=user_id,
                    trigger=trigger,
                    slot=slot,
                    preview_id=preview_id,
                    chat_message_id=message_id,
                )
                body = self._broker.formatter.dumps(message)
                pipe.xadd(queue_name(shard), {b"data": body.message})
            await pipe.execute()

    async def tick(self) -> None:
        """A no-op task per shard: the Streams broker claims a dead worker's messages only
        after a read that returned something, so an idle queue needs one now and then."""
        await self._start()
        for shard in (await self.live_shards()) | set(self._settings.shard_ips):
            labels = {"queue_name": queue_name(shard)}
            await AsyncKicker(TICK_TASK, self._broker, labels).kiq()

    async def sweep(self, now: datetime | None = None) -> int:
        """Send again every open slot Redis no longer holds: all of them when Redis lost its
        data (the epoch key is gone: a restart without persistence, a FLUSHALL), else those
        open far longer than a run can take. Duplicates are harmless: a run is one per slot."""
        await self._start()
        now = now or utcnow()
        lost = not await self.redis.exists(EPOCH_KEY)
        self.redis_was_lost = lost
        if lost:
            await self.redis.set(EPOCH_KEY, str(now.timestamp()))
        patience = (
            self._settings.queue_idle_timeout_seconds + self._settings.queue_resend_after_seconds
        )
        before = now if lost else now - timedelta(seconds=patience)
        async with self._sessions() as session:
            rows = list(
                await session.scalars(
                    select(QueuedRun)
                    .where(QueuedRun.done_at.is_(None), QueuedRun.enqueued_at <= before)
                    .order_by(QueuedRun.id)
                )
            )
        await self._kick_many(
            [(r.user_id, r.trigger, r.slot, r.shard, r.preview_id, r.message_id) for r in rows]
        )
        if rows:
            ids = [row.id for row in rows]
            async with self._sessions() as session, session.begin():
                await session.execute(
                    update(QueuedRun)
                    .where(QueuedRun.id.in_(ids))
                    .values(sends=QueuedRun.sends + 1, enqueued_at=now)
                )
            log.warning(
                "sent %d queued run(s) again (%s)",
                len(rows),
                "Redis lost its data" if lost else "not done long after enqueueing",
            )
        return len(rows)

    async def trim(self) -> None:
        """Drop queue entries every worker has acknowledged (a stream keeps them otherwise)."""
        for shard in (await self.live_shards()) | set(self._settings.shard_ips):
            await trim_acked(self.redis, queue_name(shard), WORKERS_GROUP)

    async def open_without_run(self) -> int:
        """Open slots that have no run row yet (for tests and the operator)."""
        async with self._sessions() as session:
            has_run = exists().where(
                RebalanceRun.user_id == QueuedRun.user_id, RebalanceRun.slot == QueuedRun.slot
            )
            count = await session.scalar(
                select(func.count())
                .select_from(QueuedRun)
                .where(QueuedRun.done_at.is_(None), ~has_run)
            )
        return int(count or 0)


async def mark_done(sessions: async_sessionmaker[AsyncSession], user_id: int, slot: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(
            update(QueuedRun)
            .where(
                QueuedRun.user_id == user_id, QueuedRun.slot == slot, QueuedRun.done_at.is_(None)
            )
            .values(done_at=utcnow())
        )


async def trim_acked(redis: Redis, stream: str, group: str) -> None:
    """XTRIM up to the oldest entry the group still owes (pending) or has not been given."""
    try:
        groups = await redis.xinfo_groups(stream)
    except Exception:  # no such stream yet
        return
    mine = next((g for g in groups if g.get("name") in (group, group.encode())), None)
    if mine is None:
        return
    last = mine.get("last-delivered-id")
    last = last.decode() if isinstance(last, bytes) else last
    if not last or last == "0-0":
        return
    pending = await redis.xpending(stream, group)
    low = pending.get("min") if pending and pending.get("pending") else None
    low = low.decode() if isinstance(low, bytes) else low
    floor = low if low is not None else _next_id(last)
    await redis.xtrim(stream, minid=floor, approximate=False)


def _next_id(entry_id: str) -> str:
    millis, _sep, seq = entry_id.partition("-")
    return f"{millis}-{int(seq or 0) + 1}"

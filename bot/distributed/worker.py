"""`rebalance-bot worker`: runs the rebalances of one shard (one egress IP) from the queue.

Built from the same services container as the bot. It owns its IP's exchange limiters, so
the in-process budget stays exact; it never calls Telegram (results go to a Redis stream).
SIGTERM stops it like the bot's graceful stop: runs still reading are let go unacknowledged
(the queue delivers them again), runs placing orders finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Annotated, Any

from taskiq import Context, TaskiqDepends
from taskiq.receiver import Receiver

from bot.config import Settings
from bot.distributed.broker import RUN_LABELS, RUN_TASK, TICK_TASK, WORKERS_KEY, make_broker
from bot.distributed.dispatch import mark_done
from bot.distributed.results import publish
from bot.errors import ShuttingDown
from bot.services.container import Services
from bot.services.run_handler import Kind
from bot.services.run_lock import process_owner

log = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 10.0
LISTENER_CLOSE_SECONDS = 5.0


class Worker:
    def __init__(self, settings: Settings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self.shard = settings.worker_shard
        self.consumer = f"{self.shard}|{process_owner()}"
        self.broker = make_broker(settings, self.shard, consumer=self.consumer)
        self.broker.register_task(run_task, task_name=RUN_TASK, **RUN_LABELS)
        self.broker.register_task(tick_task, task_name=TICK_TASK)
        self.broker.state.worker = self
        self.finish = asyncio.Event()
        self.done = 0
        self._active: set[asyncio.Task[Any]] = set()  # runs in hand (placing orders finish)

    @property
    def redis(self) -> Any:
        assert self.services.queue is not None  # noqa: S101 - distributed settings
        return self.services.queue.redis

    async def run_one(
        self,
        context: Context,
        user_id: int,
        trigger: str,
        slot: str,
        preview_id: int | None,
        chat_message_id: int | None,
    ) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._active.add(task)
            task.add_done_callback(self._active.discard)
        services = self.services
        try:
            # one account read: the handler reads it and runs in the user's language
            handled = await services.runs.handle(
                user_id,
                trigger,
                slot=slot,
                preview_id=preview_id,
                chat_message_id=chat_message_id,
            )
        except ShuttingDown:
            # Nothing recorded or sent: unacknowledged, the queue hands it to another worker.
            log.info("user %s: run %s let go, the worker is stopping", user_id, slot)
            return
        if handled.kind != Kind.NOTHING:
            await publish(self.redis, handled)
        await mark_done(services.session_factory, user_id, slot)
        await context.ack()
        self.done += 1

    async def _heartbeat(self) -> None:
        while True:
            await self.redis.hset(WORKERS_KEY, self.consumer, str(time.time()))
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def _reconcile(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reconcile_interval_seconds)
            try:
                await self.services.rebalancer.reconciler.reconcile(shard=self.shard)
            except Exception:
                log.exception("reconciliation pass failed")

    async def _listen(self) -> None:
        receiver = Receiver(
            self.broker,
            max_async_tasks=self.settings.max_concurrent_runs,
            run_startup=False,
            propagate_exceptions=False,
        )
        while not self.finish.is_set():
            try:
                await receiver.listen(self.finish)
            except Exception:
                # Redis restarted (without its consumer group) or went away for a moment.
                log.warning("queue listener failed; starting it again", exc_info=True)
                await asyncio.sleep(1.0)
                with contextlib.suppress(Exception):
                    await self.broker.startup()

    async def serve(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        await self.broker.startup()
        helpers = [
            asyncio.create_task(self._heartbeat()),
            asyncio.create_task(self._reconcile()),
        ]
        log.info("worker %s listening on shard %r", self.consumer, self.shard)
        listener = asyncio.create_task(self._listen())
        try:
            await asyncio.wait(
                {listener, asyncio.create_task(self.finish.wait())},
                return_when=asyncio.FIRST_COMPLETED,
            )
            # Runs in hand finish (those still reading were let go by `stop`); then the
            # listener gets a moment to close, and is cut off if its read does not return:
            # nothing is lost, what it held unacknowledged is delivered again.
            while self._active:
                await asyncio.wait(set(self._active))
            try:
                await asyncio.wait_for(asyncio.shield(listener), timeout=LISTENER_CLOSE_SECONDS)
            except TimeoutError:
                log.warning("the queue listener did not stop in time; cut off")
                listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        finally:
            for task in helpers:
                task.cancel()
            for task in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            with contextlib.suppress(Exception):
                await self.redis.hdel(WORKERS_KEY, self.consumer)
            await self.broker.shutdown()

    def stop(self) -> None:
        if self.finish.is_set():
            return
        let_go = self.services.rebalancer.drain()
        log.info("stopping: %d run(s) that had not started trading were let go", let_go)
        self.finish.set()


async def run_task(
    user_id: int,
    trigger: str,
    slot: str,
    preview_id: int | None = None,
    chat_message_id: int | None = None,
    context: Annotated[Context, TaskiqDepends()] = None,  # type: ignore[assignment]
) -> None:
    worker: Worker = context.state.worker
    await worker.run_one(context, user_id, trigger, slot, preview_id, chat_message_id)


async def tick_task() -> None:
    """Nothing: its delivery makes the broker claim messages of dead workers (see Dispatcher)."""


async def serve(settings: Settings) -> None:
    services = await Services.create(settings)
    try:
        await services.rebalancer.reconciler.reconcile(shard=settings.worker_shard)
        await Worker(settings, services).serve()
    finally:
        await services.close()

"""The `run` process in distributed mode: it waits to lead, then schedules (enqueues), sends
the workers' results, and keeps the queue honest (ticks, resends, trims)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any

from bot.distributed.leader import Leadership
from bot.distributed.results import ResultSender

if TYPE_CHECKING:
    from bot.handlers.base import BotContext
    from bot.services.container import Services

log = logging.getLogger(__name__)

LEADER_CHECK_SECONDS = 5.0
SWEEP_SECONDS = 30.0
TICK_SECONDS = 60.0
STOP_SENDING_SECONDS = 10.0


async def lead(application: Any, services: Services) -> None:
    """Block until this process holds the leader lock (a standby waits here, before it polls
    Telegram), then start the sender and the queue's upkeep."""
    settings = services.settings
    leadership = Leadership(settings.database_url, retry_seconds=settings.leader_retry_seconds)
    await leadership.acquire()
    application.bot_data["leadership"] = leadership
    assert services.queue is not None  # noqa: S101 - distributed
    from bot import jobs

    async def deliver(handled: Any) -> bool:
        return await jobs.deliver(application, handled)

    sender = ResultSender(services.queue.redis, deliver)
    application.bot_data["sender"] = sender
    application.bot_data["sender_task"] = asyncio.create_task(sender.run(), name="results")
    await services.queue.sweep()  # what a previous leader, or lost Redis data, left open
    queue = application.job_queue
    queue.run_repeating(_check, LEADER_CHECK_SECONDS, first=LEADER_CHECK_SECONDS, name="leader")
    queue.run_repeating(_sweep, SWEEP_SECONDS, first=SWEEP_SECONDS, name="queue-sweep")
    queue.run_repeating(_tick, TICK_SECONDS, first=1.0, name="queue-tick")


async def _check(context: BotContext) -> None:
    leadership: Leadership = context.application.bot_data["leadership"]
    task = context.application.bot_data.get("sender_task")
    if task is not None and task.done() and not task.cancelled():
        log.error("the results sender stopped: %r; starting it again", task.exception())
        sender = context.application.bot_data["sender"]
        context.application.bot_data["sender_task"] = asyncio.create_task(sender.run())
    if not await leadership.still_held():
        log.error("lost the leader lock: stopping so a standby takes over cleanly")
        context.application.stop_running()


async def _sweep(context: BotContext) -> None:
    queue = context.services.queue
    if queue is not None:
        await queue.sweep()
        if queue.redis_was_lost:  # the results stream went with it: reports still owed
            from bot import jobs

            await jobs.send_unreported(context.application)
        await queue.trim()


async def _tick(context: BotContext) -> None:
    queue = context.services.queue
    if queue is not None:
        await queue.tick()


async def stop_sending(application: Any) -> None:
    """Before the bot's HTTP client closes: the report in hand is finished, the rest stays in
    the stream for the next leader."""
    task = application.bot_data.pop("sender_task", None)
    sender = application.bot_data.get("sender")
    if task is None:
        return
    if sender is not None:
        sender.stop()
    try:
        # its read blocks at most a second; a send may wait out Telegram's rate limit
        await asyncio.wait_for(asyncio.shield(task), timeout=STOP_SENDING_SECONDS)
    except TimeoutError:
        task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def step_down(application: Any) -> None:
    await stop_sending(application)
    leadership: Leadership | None = application.bot_data.pop("leadership", None)
    if leadership is not None:
        await leadership.release()

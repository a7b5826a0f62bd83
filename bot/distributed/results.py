"""Workers never call Telegram: each run's outcome goes to a Redis stream, and the leader's
sender delivers it (through the bot's AIORateLimiter) and acknowledges it afterwards. An
entry names its run; a run already reported is not reported again, so a crash between the
send and the ack does not double a message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from bot.distributed.broker import RESULTS_STREAM, SENDER, SENDERS_GROUP
from bot.distributed.dispatch import trim_acked
from bot.services.run_handler import Handled

log = logging.getLogger(__name__)

Deliver = Callable[[Handled], Awaitable[bool]]


async def publish(redis: Redis, handled: Handled) -> None:
    await redis.xadd(RESULTS_STREAM, handled.to_fields())  # type: ignore[arg-type]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class ResultSender:
    """The leader's loop over the results stream; `run()` until cancelled."""

    def __init__(self, redis: Redis, deliver: Deliver, *, block_ms: int = 1000) -> None:
        self._redis = redis
        self._deliver = deliver
        self._block = block_ms
        self.delivered = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        """Finish the entry in hand, then return: a delivery is never cut in half."""
        self._stopping.set()

    async def _group(self) -> None:
        try:
            await self._redis.xgroup_create(RESULTS_STREAM, SENDERS_GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def run(self) -> None:
        await self._group()
        backlog = True  # first what a previous leader (or we) read and did not acknowledge
        passes = 0
        while not self._stopping.is_set():
            try:
                got = await self._redis.xreadgroup(
                    SENDERS_GROUP,
                    SENDER,
                    {RESULTS_STREAM: "0" if backlog else ">"},
                    count=100,
                    block=None if backlog else self._block,
                )
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                log.warning("results stream lost its group (Redis restarted?): recreating it")
                await self._group()
                continue
            entries: list[Any] = list(got[0][1]) if got else []  # type: ignore[index]
            failed = False
            for entry_id, raw in entries:
                if self._stopping.is_set():
                    break  # unacknowledged: the next leader (or start) sends it
                if not raw:  # an entry trimmed while pending
                    await self._redis.xack(RESULTS_STREAM, SENDERS_GROUP, entry_id)
                    continue
                handled = Handled.from_fields({_text(k): _text(v) for k, v in raw.items()})
                try:
                    ok = await self._deliver(handled)
                except Exception:
                    log.exception("user %s: delivering a run's result failed", handled.user_id)
                    ok = False
                if ok:
                    await self._redis.xack(RESULTS_STREAM, SENDERS_GROUP, entry_id)
                    self.delivered += 1
                else:
                    failed = True
                    break  # keep this user's reports in order: retry from here
            if backlog:
                backlog = bool(entries) and not failed and len(entries) == 100
            else:
                backlog = failed
            if failed:
                await asyncio.sleep(2.0)
            passes += 1
            if passes % 100 == 0:
                await trim_acked(self._redis, RESULTS_STREAM, SENDERS_GROUP)

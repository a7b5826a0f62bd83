"""The update processor: one chat's queue holds no global slot; per-user rate limit."""

from __future__ import annotations

import asyncio
import time

from telegram import Chat, Message, Update, User

from bot.handlers.updates import PerChatUpdateProcessor, throttled_for
from bot.services.ratelimit import Admission, AttemptLimiter, UpdateRateLimiter


def _update(update_id: int, chat_id: int) -> Update:
    user = User(chat_id, "Test", is_bot=False)
    chat = Chat(chat_id, Chat.PRIVATE)
    message = Message(update_id, None, chat, from_user=user, text="/portfolio")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_a_busy_chat_waits_for_itself_not_for_the_shared_slots() -> None:
    processor = PerChatUpdateProcessor(4)
    order: list[int] = []

    async def slow(i: int) -> None:
        await asyncio.sleep(0.05)
        order.append(i)

    busy = [
        asyncio.create_task(processor.process_update(_update(i, 1), slow(i))) for i in range(40)
    ]
    await asyncio.sleep(0.01)
    started = time.monotonic()
    await processor.process_update(_update(99, 2), asyncio.sleep(0))
    assert time.monotonic() - started < 0.1  # not behind 40 x 50 ms
    await asyncio.gather(*busy)
    assert order == list(range(40))  # one chat's updates stay in order


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_burst_refill_and_one_notice() -> None:
    clock = _Clock()
    limiter = UpdateRateLimiter(burst=10, per_minute=20, notice_every=60, clock=clock)
    verdicts = [limiter.admit(7)[0] for _ in range(13)]
    assert verdicts[:10] == [Admission.ALLOW] * 10
    assert verdicts[10] is Admission.NOTICE
    assert verdicts[11:] == [Admission.DROP] * 2
    assert limiter.admit(8)[0] is Admission.ALLOW  # someone else is not affected
    _verdict, wait = limiter.admit(7)
    assert 2.9 < wait <= 3.0  # 20 a minute: one every 3 s
    clock.now += 3
    assert limiter.admit(7)[0] is Admission.ALLOW
    assert limiter.admit(7)[0] is Admission.DROP  # the notice went out less than 60 s ago
    clock.now += 61
    assert limiter.admit(7)[0] is Admission.ALLOW


async def test_over_the_limit_the_notice_runs_and_the_rest_never_do() -> None:
    clock = _Clock()
    limiter = UpdateRateLimiter(burst=1, per_minute=1, clock=clock)
    processor = PerChatUpdateProcessor(4, limiter=limiter)
    seen: list[float | None] = []

    async def record() -> None:
        seen.append(throttled_for())

    for i in range(5):
        await processor.process_update(_update(i, 3), record())
    assert seen[0] is None
    assert seen[1] is not None
    assert seen[1] > 0
    assert len(seen) == 2  # three dropped: their coroutines closed, never run


def test_attempts_per_window() -> None:
    clock = _Clock()
    attempts = AttemptLimiter(limit=5, window=3600, clock=clock)
    for _ in range(5):
        assert attempts.retry_after(1) is None
        attempts.record(1)
        clock.now += 60
    wait = attempts.retry_after(1)
    assert wait is not None
    assert abs(wait - (3600 - 300)) < 1e-6
    assert attempts.retry_after(2) is None
    clock.now += wait
    assert attempts.retry_after(1) is None

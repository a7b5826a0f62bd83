"""Update processing: chats run concurrently, each chat's updates one at a time and in order,
and each user within a rate limit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.services.ratelimit import Admission, UpdateRateLimiter

# Set while an update runs that is over its user's rate limit: the gate answers "slow down".
_throttled: ContextVar[float | None] = ContextVar("throttled", default=None)


def throttled_for() -> float | None:
    """Seconds the current update's user should wait, if the update is over the limit."""
    return _throttled.get()


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Bounded concurrency across chats, strict order within a chat, a rate limit per user.

    Conversation state (the /keys dialog, a pending confirmation) belongs to one chat;
    serializing a chat's updates removes every race on it while other chats proceed in
    parallel. PTB's own `process_update` takes one of the global slots first and only then
    would we wait for the chat's lock: 40 slow updates of one chat then held every slot and
    everyone else waited. Here an update waits for its chat first, holding nothing, and takes a
    global slot only when it is its chat's turn.
    """

    def __init__(
        self,
        max_concurrent_updates: int = 16,
        *,
        limiter: UpdateRateLimiter | None = None,
        never_drop: Callable[[object], object] | None = None,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self.limiter = limiter
        self._never_drop = never_drop
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}

    def _admit(self, update: object) -> tuple[bool, float | None]:
        """(process it?, seconds to wait when it only may say "slow down")."""
        user = update.effective_user if isinstance(update, Update) else None
        if self.limiter is None or user is None:
            return True, None
        verdict, wait = self.limiter.admit(user.id)
        if verdict is Admission.ALLOW:
            return True, None
        if verdict is Admission.DROP and not (self._never_drop and self._never_drop(update)):
            return False, None
        return True, wait

    async def process_update(  # type: ignore[misc]  # final in PTB; see the class docstring
        self, update: object, coroutine: Awaitable[Any]
    ) -> None:
        go, wait = self._admit(update)
        if not go:
            if asyncio.iscoroutine(coroutine):
                coroutine.close()  # dropped before it ran: no "never awaited" warning
            return
        token = _throttled.set(wait)
        try:
            chat = update.effective_chat if isinstance(update, Update) else None
            if chat is None:
                async with self._semaphore:
                    await self.do_process_update(update, coroutine)
                return
            await self._in_chat_order(chat.id, update, coroutine)
        finally:
            _throttled.reset(token)

    async def _in_chat_order(self, chat_id: int, update: object, coroutine: Awaitable[Any]) -> None:
        lock = self._locks.setdefault(chat_id, asyncio.Lock())
        self._waiting[chat_id] = self._waiting.get(chat_id, 0) + 1
        try:
            async with lock, self._semaphore:
                await self.do_process_update(update, coroutine)
        finally:
            self._waiting[chat_id] -= 1
            if not self._waiting[chat_id]:  # nobody else queued: keep the map small
                del self._waiting[chat_id]
                self._locks.pop(chat_id, None)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        await coroutine

    async def initialize(self) -> None:
        """Nothing to allocate."""

    async def shutdown(self) -> None:
        self._locks.clear()
        self._waiting.clear()

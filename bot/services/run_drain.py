"""A stopping process lets go of runs that have only read: nothing recorded, nothing sent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.errors import ShuttingDown


def shutting_down() -> ShuttingDown:
    return ShuttingDown("The bot is restarting. Please try again in a minute.")


class Draining:
    """Tracks the runs in a reading phase, so that a graceful stop need not wait for them
    (they may be queued for a minute behind the exchange's weight budget)."""

    def __init__(self) -> None:
        self.active = False
        self._reading: set[asyncio.Task[Any]] = set()
        self._let_go: set[asyncio.Task[Any]] = set()

    def drain(self) -> int:
        """No new run starts, and runs still reading stop now with ShuttingDown. Runs already
        placing orders finish. Returns how many were let go."""
        self.active = True
        for task in self._reading:
            self._let_go.add(task)
            task.cancel()
        return len(self._reading)

    def refuse(self) -> None:
        if self.active:
            raise shutting_down()

    @asynccontextmanager
    async def interruptible(self) -> AsyncIterator[None]:
        """A reading phase: `drain` may cancel it, and the caller then sees ShuttingDown."""
        self.refuse()
        task = asyncio.current_task()
        assert task is not None  # noqa: S101 - always called from a task
        self._reading.add(task)
        try:
            yield
        except asyncio.CancelledError:
            if task not in self._let_go:
                raise  # cancelled by someone else: not ours to swallow
            task.uncancel()
            raise shutting_down() from None
        finally:
            self._reading.discard(task)
            self._let_go.discard(task)

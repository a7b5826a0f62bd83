"""Telegram out: the rate limiter every Bot API call passes, which also rides out a transient
failure (5xx, network) of a send instead of dropping the message."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram.error import NetworkError, TimedOut
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

# Calls that put something into a chat. Others (getUpdates, answerCallbackQuery, chat actions)
# are worthless a minute late, and the updater retries getUpdates itself.
RETRIED_METHODS = frozenset(
    {"sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageReplyMarkup"}
)
RETRY_DELAYS = (1, 2, 4, 8)  # relative: scaled so the waits add up to the configured budget


def not_delivered(error: NetworkError) -> bool:
    """Whether Telegram certainly did not act on the request, so sending it again cannot make
    a second message. A 5xx answer, a refused connection or one that timed out before it
    carried the request: yes. A read timeout: the message may have gone out, so no."""
    if isinstance(error, TimedOut):
        cause = error.__cause__
        return isinstance(cause, httpx.ConnectTimeout | httpx.PoolTimeout) or (
            "Pool timeout" in str(error)
        )
    cause = error.__cause__
    if isinstance(cause, httpx.HTTPError):
        # A refused connection never carried the request; a dropped one may have.
        return isinstance(cause, httpx.ConnectError)
    return True  # a 5xx answer (PTB raises NetworkError for those) or a broken JSON reply


class DeliveringRateLimiter(AIORateLimiter):
    """AIORateLimiter (RetryAfter waited out) plus retries with backoff, over about
    `retry_seconds`, for sends that failed without reaching Telegram."""

    def __init__(self, *args: Any, retry_seconds: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        scale = retry_seconds / sum(RETRY_DELAYS)
        self.delays = tuple(step * scale for step in RETRY_DELAYS)

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        if endpoint not in RETRIED_METHODS:
            return await super().process_request(
                callback, args, kwargs, endpoint, data, rate_limit_args
            )
        for attempt, delay in enumerate((*self.delays, None), start=1):
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except NetworkError as error:
                if delay is None or not not_delivered(error):
                    raise
                log.warning(
                    "%s failed (%s), attempt %d; retrying in %.1f s",
                    endpoint,
                    type(error).__name__,
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

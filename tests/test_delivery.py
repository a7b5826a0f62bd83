"""Which failed sends may be sent again: only those Telegram certainly did not act on."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import NetworkError, TimedOut

from bot.delivery import DeliveringRateLimiter, not_delivered


def _caused(error: NetworkError, cause: Exception) -> NetworkError:
    error.__cause__ = cause
    return error


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (NetworkError("Bad Gateway"), True),  # a 5xx answer: nothing was sent
        (_caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")), True),
        (_caused(TimedOut(), httpx.ConnectTimeout("connect")), True),
        (_caused(TimedOut(), httpx.ReadTimeout("read")), False),  # it may have gone out
        (_caused(NetworkError("httpx.ReadError"), httpx.ReadError("reset")), False),
        (_caused(NetworkError("dropped"), httpx.RemoteProtocolError("gone")), False),
    ],
)
def test_only_sends_that_never_reached_telegram_are_retried(
    error: NetworkError, retried: bool
) -> None:
    assert not_delivered(error) is retried


async def test_backoff_adds_up_to_the_budget_and_gives_up_after_it() -> None:
    limiter = DeliveringRateLimiter(retry_seconds=0.15)
    assert sum(limiter.delays) == pytest.approx(0.15)
    calls = 0

    async def failing(*_args: object, **_kwargs: object) -> bool:
        nonlocal calls
        calls += 1
        raise NetworkError("Bad Gateway")

    await limiter.initialize()
    with pytest.raises(NetworkError):
        await limiter.process_request(failing, (), {}, "sendMessage", {"chat_id": 1}, None)
    assert calls == len(limiter.delays) + 1
    calls = 0
    with pytest.raises(NetworkError):  # not a send: not retried here
        await limiter.process_request(failing, (), {}, "getUpdates", {}, None)
    assert calls == 1
    await limiter.shutdown()


def test_a_report_whose_answer_was_lost_counts_as_sent() -> None:
    from telegram.error import BadRequest

    from bot.jobs import maybe_delivered

    assert maybe_delivered(_caused(TimedOut(), httpx.ReadTimeout("read")))
    assert not maybe_delivered(NetworkError("Bad Gateway"))  # stays unsent, sent after a start
    assert not maybe_delivered(BadRequest("chat not found"))

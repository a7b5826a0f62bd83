"""Per-user limits: a token bucket for updates, a sliding window for key checks."""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]


class Admission(enum.Enum):
    ALLOW = "allow"
    NOTICE = "notice"  # refused, and this one says so ("slow down, try again in N s")
    DROP = "drop"  # refused silently: the notice went out already


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    noticed: float = float("-inf")


class UpdateRateLimiter:
    """A token bucket per user: `burst` updates at once, refilled at `per_minute`.

    Past it, one update per `notice_every` seconds is let through to say "slow down" and the
    rest are dropped before they queue, so a flood costs the bot almost nothing.
    """

    def __init__(
        self,
        *,
        burst: int = 10,
        per_minute: float = 20.0,
        notice_every: float = 60.0,
        clock: Clock = time.monotonic,
        max_users: int = 100_000,
    ) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self.notice_every = notice_every
        self.clock = clock
        self.max_users = max_users
        self._buckets: dict[int, _Bucket] = {}

    def admit(self, user_id: int) -> tuple[Admission, float]:
        """The verdict for one more update from `user_id`, and the seconds until one fits."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._prune(now)
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return Admission.ALLOW, 0.0
        wait = (1 - bucket.tokens) / self.rate if self.rate else float("inf")
        if now - bucket.noticed >= self.notice_every:
            bucket.noticed = now
            return Admission.NOTICE, wait
        return Admission.DROP, wait

    def _prune(self, now: float) -> None:
        """Forget users whose bucket has refilled: they are as good as new."""
        full = [
            user
            for user, b in self._buckets.items()
            if b.tokens + (now - b.updated) * self.rate >= self.burst
            and now - b.noticed >= self.notice_every
        ]
        for user in full:
            del self._buckets[user]


class AttemptLimiter:
    """At most `limit` attempts per user in any `window` seconds (key checks at the exchange)."""

    def __init__(
        self, *, limit: int = 5, window: float = 3600.0, clock: Clock = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self._attempts: dict[int, deque[float]] = {}

    def _recent(self, user_id: int, now: float) -> deque[float]:
        attempts = self._attempts.get(user_id)
        if attempts is None:
            return deque()
        while attempts and now - attempts[0] >= self.window:
            attempts.popleft()
        if not attempts:
            del self._attempts[user_id]
        return attempts

    def retry_after(self, user_id: int) -> float | None:
        """Seconds until another attempt is allowed; None when one is allowed now."""
        now = self.clock()
        attempts = self._recent(user_id, now)
        if len(attempts) < self.limit:
            return None
        return attempts[0] + self.window - now

    def record(self, user_id: int) -> None:
        now = self.clock()
        self._recent(user_id, now)
        self._attempts.setdefault(user_id, deque()).append(now)

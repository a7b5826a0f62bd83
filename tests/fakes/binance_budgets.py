"""Binance's rate limits as the fake keeps them: per IP the /api request weight, each SAPI
endpoint's own IP weight, raw requests; per account the order counts. Past a limit the answer
is 429 with Retry-After; a client that goes on during that time is banned with 418
(rest-api.md "LIMITS", the wallet API's general info)."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class Counter:
    """A sliding window of `seconds`, its running sum kept as entries expire."""

    seconds: float
    entries: deque[tuple[float, int]] = field(default_factory=deque)
    total: int = 0

    def used(self, now: float) -> int:
        while self.entries and now - self.entries[0][0] >= self.seconds:
            self.total -= self.entries.popleft()[1]
        return self.total

    def add(self, now: float, amount: int) -> None:
        self.entries.append((now, amount))
        self.total += amount


@dataclass
class Refusal:
    status: int  # 429 | 418
    code: int
    msg: str
    retry_after: int


class Budgets:
    """Counts every request and says when Binance would refuse it."""

    def __init__(self) -> None:
        self.enforce = True
        self.request_weight = 6000  # per minute per IP on /api
        self.sapi_weight = 12000  # per minute per IP, for each SAPI endpoint
        self.sapi_seconds = 60.0
        self.raw_requests = 61000  # per 5 minutes per IP
        self.orders_10s = 50  # per account
        self.orders_day = 160_000
        self.api = Counter(60)
        self.raw = Counter(300)
        self.sapi: dict[str, Counter] = {}
        self.orders: dict[str, tuple[Counter, Counter]] = {}
        self.limited_until = 0.0
        self.banned_until = 0.0
        self.refusals: list[tuple[str, int]] = []  # (path, status) of every 429/418 answered

    def _sapi(self, path: str) -> Counter:
        counter = self.sapi.get(path)
        if counter is None:
            counter = self.sapi[path] = Counter(self.sapi_seconds)
        return counter

    def _orders(self, api_key: str) -> tuple[Counter, Counter]:
        counters = self.orders.get(api_key)
        if counters is None:
            counters = self.orders[api_key] = (Counter(10), Counter(86_400))
        return counters

    def charge(
        self, path: str, weight: int, *, api_key: str | None, is_order: bool
    ) -> Refusal | None:
        """Count one request; the refusal Binance would answer with, if any."""
        now = time.monotonic()
        self.raw.add(now, 1)
        if path.startswith("/sapi/"):
            self._sapi(path).add(now, weight)
        else:
            self.api.add(now, weight)
        if is_order and api_key:
            for counter in self._orders(api_key):
                counter.add(now, 1)
        if not self.enforce:
            return None
        refusal = self._judge(path, now, api_key, is_order)
        if refusal is not None:
            self.refusals.append((path, refusal.status))
        return refusal

    def _judge(self, path: str, now: float, api_key: str | None, is_order: bool) -> Refusal | None:
        if now < self.banned_until:
            return Refusal(418, -1003, _ban_msg(), int(self.banned_until - now) + 1)
        over = (
            self.api.used(now) > self.request_weight
            or self.raw.used(now) > self.raw_requests
            or (path.startswith("/sapi/") and self._sapi(path).used(now) > self.sapi_weight)
        )
        if over:
            if now < self.limited_until:  # it did not back off after the 429: banned
                self.banned_until = now + 120
                return Refusal(418, -1003, _ban_msg(), 120)
            self.limited_until = now + 60
            return Refusal(
                429,
                -1003,
                "Too much request weight used; current limit is 6000 request weight per 1 "
                "MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                60,
            )
        if is_order and api_key:
            tens, day = self._orders(api_key)
            if tens.used(now) > self.orders_10s or day.used(now) > self.orders_day:
                return Refusal(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {self.orders_10s} orders per 10 SECOND.",
                    10,
                )
        return None

    def headers(self, path: str, api_key: str | None, is_order: bool) -> dict[str, str]:
        now = time.monotonic()
        if path.startswith("/sapi/"):
            headers = {"X-SAPI-USED-IP-WEIGHT-1M": str(self._sapi(path).used(now))}
        else:
            headers = {"X-MBX-USED-WEIGHT-1M": str(self.api.used(now))}
        if is_order and api_key:
            tens, day = self._orders(api_key)
            headers["X-MBX-ORDER-COUNT-10S"] = str(tens.used(now))
            headers["X-MBX-ORDER-COUNT-1D"] = str(day.used(now))
        return headers


def _ban_msg() -> str:
    return (
        "Way too much request weight used; IP banned until 1700000000000. Please use WebSocket "
        "Streams for live updates to avoid bans."
    )

"""An exchange's request budgets, shared by every user of this process (one egress IP).

Binance counts, per IP, the request weight of `/api/*` (6,000 a minute), raw requests, and for
each SAPI endpoint its own IP weight (12,000 a minute each: a balance read on getUserAsset
costs nothing of `/api`); per account it counts orders (50 per 10 s, 160,000 a day). Each
budget is a sliding window kept under 80 % of its limit, corrected upward by the exchange's
own count in the response headers, and paused for everyone on a 429 or 418 (a ban: every
request on that budget waits it out). The limits come from exchangeInfo's rateLimits.

Scheduled runs come first when a budget is short: interactive reads (a /portfolio, a
preview) may use only part of each budget, so they wait while runs go on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from contextvars import ContextVar
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

log = logging.getLogger(__name__)

HEADROOM = Decimal("0.8")  # stay below each limit: other tools may share the address
INTERACTIVE_SHARE = Decimal("0.75")  # of a budget, the part a chat command may use
WAIT_LOG_SECONDS = 2.0  # a wait this long is worth a line in the log

# Set while serving a chat command (a preview, /portfolio): such reads yield to runs.
interactive: ContextVar[bool] = ContextVar("interactive", default=False)
# The user a run is for, so a wait for budget can say whose run waits.
budget_user: ContextVar[int | None] = ContextVar("budget_user", default=None)

API, SAPI, ORDER = "api", "sapi", "order"
UNKNOWN_WEIGHT = 50  # an endpoint we have not looked up: assume it is expensive


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: str
    weight: int
    kind: str  # api | sapi | order
    # An endpoint with a limit of its own (OKX, Bybit): `limit` requests per `seconds`, per
    # IP (`per="ip"`) or per account (`per="user"`), instead of Binance's shared /api weight.
    limit: int = 0
    seconds: float = 0.0
    per: str = ""


# What each gateway method costs on Binance (spot rest-api.md and the wallet docs, 2025).
BINANCE_ENDPOINTS: dict[str, Endpoint] = {
    "load_markets": Endpoint("/api/v3/exchangeInfo", 20, API),
    "fetch_last_prices": Endpoint("/api/v3/ticker/price", 4, API),  # every symbol
    "fetch_tickers": Endpoint("/api/v3/ticker/24hr", 80, API),  # every symbol
    "fetch_balance": Endpoint("/api/v3/account", 20, API),
    "fetch_order": Endpoint("/api/v3/order", 4, API),
    "fetch_orders": Endpoint("/api/v3/allOrders", 20, API),
    "fetch_my_trades": Endpoint("/api/v3/myTrades", 5, API),  # always with orderId here
    "fetch_open_orders": Endpoint("/api/v3/openOrders", 6, API),  # one symbol
    "load_time_difference": Endpoint("/api/v3/time", 1, API),
    "create_order": Endpoint("/api/v3/order", 1, ORDER),
    "create_market_buy_order_with_cost": Endpoint("/api/v3/order", 1, ORDER),
    "sapi_get_account_apirestrictions": Endpoint("/sapi/v1/account/apiRestrictions", 1, SAPI),
    "sapiv3_post_asset_getuserasset": Endpoint("/sapi/v3/asset/getUserAsset", 5, SAPI),
}

INTERVAL_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
# Binance's documented intervalNum where an answer leaves it out (the 2025-08 capture does):
# orders are counted per 10 seconds, raw requests per 5 minutes (rest-api.md "LIMITS").
DOCUMENTED_INTERVAL_NUM = {("ORDERS", "SECOND"): 10, ("RAW_REQUESTS", "MINUTE"): 5}


@dataclass
class Window:
    """One limit: `limit` weight per `seconds`, of which `cap` (80 %) is ours to use."""

    name: str
    limit: int
    seconds: float
    cap: int = 0
    used_total: int = 0  # everything ever taken (for benchmarks)
    requests: int = 0
    paused_until: float = 0.0
    _entries: deque[tuple[float, int]] = field(default_factory=deque)
    _used: int = 0

    def __post_init__(self) -> None:
        self.cap = max(1, int(Decimal(self.limit) * HEADROOM))

    def _expire(self, now: float) -> None:
        while self._entries and now - self._entries[0][0] >= self.seconds:
            self._used -= self._entries.popleft()[1]

    @property
    def used(self) -> int:
        self._expire(time.monotonic())
        return self._used

    def wait(self, weight: int, share: Decimal, now: float) -> float:
        """Seconds until `weight` fits within `share` of the cap (0: it fits now)."""
        if now < self.paused_until:
            return self.paused_until - now
        self._expire(now)
        ceiling = int(self.cap * share)
        if self._used + weight <= ceiling or not self._entries:
            return 0.0
        # The oldest entries leave the window first: wait until enough of them have.
        excess = self._used + weight - ceiling
        for stamp, spent in self._entries:
            excess -= spent
            if excess <= 0:
                return max(0.01, self.seconds - (now - stamp))
        return max(0.01, self.seconds - (now - self._entries[-1][0]))

    def take(self, weight: int, now: float) -> None:
        self._entries.append((now, weight))
        self._used += weight
        self.used_total += weight
        self.requests += 1

    def observe(self, used: int) -> None:
        """The exchange's own count for this window; trusted when it is higher than ours."""
        now = time.monotonic()
        self._expire(now)
        if used > self._used:
            extra = used - self._used
            self._entries.append((now, extra))
            self._used += extra

    def pause(self, seconds: float) -> None:
        self.paused_until = max(self.paused_until, time.monotonic() + max(0.0, seconds))

    def configure(self, limit: int, seconds: float) -> None:
        self.limit, self.seconds = limit, seconds
        self.cap = max(1, int(Decimal(limit) * HEADROOM))


class ExchangeBudgets:
    """Every budget of one exchange from this IP: `acquire` before a request, `observe` the
    answer's headers after it."""

    def __init__(
        self,
        endpoints: dict[str, Endpoint] | None = None,
        *,
        raw: tuple[int, float] = (61000, 300),
        orders: list[tuple[int, float]] | None = None,
    ) -> None:
        self.endpoints = endpoints if endpoints is not None else BINANCE_ENDPOINTS
        self.weight = Window("REQUEST_WEIGHT", 6000, 60)
        self.raw = Window("RAW_REQUESTS", raw[0], raw[1])
        self.sapi: dict[str, Window] = {}
        self.own: dict[str, Window] = {}  # endpoints with a limit of their own, by path/account
        self.orders: dict[str, list[Window]] = {}  # per account
        self._order_limits: list[tuple[int, float]] = (
            orders if orders is not None else [(50, 10), (160_000, 86_400)]
        )
        # Each SAPI endpoint's IP budget: not in exchangeInfo; the wallet docs say 12,000 a minute.
        self.sapi_limit, self.sapi_seconds = 12000, 60.0
        self._lock = asyncio.Lock()
        self.lifted = False  # benchmarks measuring something else: no waiting at all

    # --- configuration ----------------------------------------------------------------------

    def configure(self, rate_limits: Iterable[dict[str, Any]]) -> None:
        """Binance's exchangeInfo `rateLimits`: the numbers this IP and its accounts get."""
        orders: list[tuple[int, float]] = []
        for entry in rate_limits:
            kind, interval = str(entry.get("rateLimitType")), str(entry.get("interval"))
            number = entry.get("intervalNum") or DOCUMENTED_INTERVAL_NUM.get((kind, interval), 1)
            seconds = INTERVAL_SECONDS.get(interval, 60) * int(number)
            limit = int(entry.get("limit") or 0)
            if limit <= 0:
                continue
            if kind == "REQUEST_WEIGHT":
                self.weight.configure(limit, seconds)
            elif kind == "RAW_REQUESTS":
                self.raw.configure(limit, seconds)
            elif kind == "ORDERS":
                orders.append((limit, seconds))
        if orders:
            self._order_limits = sorted(orders, key=lambda item: item[1])
            self.orders = {account: self._order_windows() for account in self.orders}

    def _order_windows(self) -> list[Window]:
        return [Window(f"ORDERS/{int(s)}s", limit, s) for limit, s in self._order_limits]

    def endpoint(self, method: str) -> Endpoint:
        return self.endpoints.get(method) or Endpoint(method, UNKNOWN_WEIGHT, API)

    def windows(self, method: str, account: str | None) -> list[tuple[Window, int]]:
        """The budgets `method` spends, each with its weight."""
        endpoint = self.endpoint(method)
        spent: list[tuple[Window, int]] = [(self.raw, 1)]
        if endpoint.kind == SAPI:
            window = self.sapi.get(endpoint.path)
            if window is None:
                window = self.sapi[endpoint.path] = Window(
                    endpoint.path, self.sapi_limit, self.sapi_seconds
                )
            spent.append((window, endpoint.weight))
            return spent
        if endpoint.limit:
            spent.append((self._own_window(endpoint, account), endpoint.weight))
        else:
            spent.append((self.weight, endpoint.weight))
        if endpoint.kind == ORDER and account is not None:
            spent.extend((w, 1) for w in self.order_windows(account))
        return spent

    def _own_window(self, endpoint: Endpoint, account: str | None) -> Window:
        key = endpoint.path if endpoint.per == "ip" else f"{endpoint.path}@{account or '-'}"
        window = self.own.get(key)
        if window is None:
            window = self.own[key] = Window(key, endpoint.limit, endpoint.seconds)
        return window

    def order_windows(self, account: str) -> list[Window]:
        windows = self.orders.get(account)
        if windows is None:
            windows = self.orders[account] = self._order_windows()
        return windows

    # --- use ---------------------------------------------------------------------------------

    async def acquire(self, method: str, account: str | None = None) -> float:
        """Wait until `method` fits every budget it spends, then take it; returns the wait."""
        spent = self.windows(method, account)
        if self.lifted:
            now = time.monotonic()
            for window, weight in spent:
                window.take(weight, now)
            return 0.0
        share = INTERACTIVE_SHARE if interactive.get() else Decimal(1)
        waited = 0.0
        while True:
            async with self._lock:
                now = time.monotonic()
                wait = max(window.wait(weight, share, now) for window, weight in spent)
                if wait <= 0:
                    for window, weight in spent:
                        window.take(weight, now)
                    break
            if waited < WAIT_LOG_SECONDS <= waited + wait:
                log.info(
                    "%s (user %s%s) waits %.1f s for the exchange's request budget",
                    method,
                    budget_user.get(),
                    ", a chat command" if interactive.get() else "",
                    wait,
                )
            await asyncio.sleep(min(wait, 1.0))
            waited += min(wait, 1.0)
        return waited

    def observe(self, method: str, account: str | None, headers: dict[str, Any]) -> None:
        """The exchange's counts from an answer's headers (lower-cased names)."""
        endpoint = self.endpoint(method)
        if endpoint.limit:
            # Bybit: this endpoint's per-UID limit and what is left of it in this second.
            limit = _header_int(headers, "x-bapi-limit")
            left = _header_int(headers, "x-bapi-limit-status")
            if limit is not None and left is not None and limit >= left:
                self._own_window(endpoint, account).observe(limit - left)
            return
        used = _header_int(headers, "x-mbx-used-weight-1m")
        if used is not None and endpoint.kind != SAPI:
            self.weight.observe(used)
        sapi = _header_int(headers, "x-sapi-used-ip-weight-1m")
        if sapi is not None and endpoint.kind == SAPI:
            self.windows(method, account)[-1][0].observe(sapi)
        if account is not None and endpoint.kind == ORDER:
            for window in self.order_windows(account):
                count = _header_int(headers, _order_header(window.seconds))
                if count is not None:
                    window.observe(count)

    def pause(
        self, method: str, account: str | None, seconds: float, *, banned: bool = False
    ) -> None:
        """A 429/418: every request on the budgets this method spends waits `seconds`. A ban
        of the whole IP (Bybit's 403) stops the raw budget too: every request waits."""
        for window, _weight in self.windows(method, account):
            if window is not self.raw or banned:
                window.pause(seconds)

    @property
    def api_weight(self) -> int:
        return self.weight.used_total


def _header_int(headers: dict[str, Any], name: str) -> int | None:
    value = headers.get(name)
    text = str(value).strip() if value is not None else ""
    return int(text) if text.isdecimal() else None


def _order_header(seconds: float) -> str:
    units = {86_400: "1d", 3600: "1h", 60: "1m"}
    return "x-mbx-order-count-" + units.get(int(seconds), f"{int(seconds)}s")

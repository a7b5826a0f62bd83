"""What the loopback OKX and Bybit fakes share: accounts, markets, fills, faults, records.

Each fake (tests/fakes/okx.py, tests/fakes/bybit.py) adds its own signing, routes, bodies and
error shapes on top. Like the Binance fake, both are unkind where the exchanges are: a
client order id is unique among OPEN orders only (a filled market order's id is accepted
again), an order whose answer was lost is invisible to lookups for a moment, and every
endpoint's documented rate limit is enforced with the exchange's own refusal.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aiohttp import web

FEE = Decimal("0.001")
# (base, quote, price, lot/base precision, tick, min size, min order value)
DEFAULT_MARKETS: tuple[tuple[str, str, str, str, str, str, str], ...] = (
    ("BTC", "USDT", "60000", "0.000001", "0.1", "0.00001", "1"),
    ("ETH", "USDT", "3000", "0.0001", "0.01", "0.0001", "1"),
    ("BNB", "USDT", "600", "0.001", "0.01", "0.001", "1"),
    ("SOL", "USDT", "150", "0.001", "0.01", "0.001", "1"),
    ("XRP", "USDT", "0.6", "0.1", "0.0001", "0.1", "1"),
    ("ETH", "BTC", "0.05", "0.0001", "0.00001", "0.0001", "0.0001"),
)


class VenueError(Exception):
    """An answer the exchange gives instead of a result (its own body shape, by the fake)."""

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


@dataclass
class Account:
    api_key: str
    secret: str
    passphrase: str
    balances: dict[str, Decimal]
    permissions: dict[str, Any]
    uid: int


@dataclass
class Market:
    base: str
    quote: str
    lot: Decimal
    tick: Decimal
    min_size: Decimal
    min_value: Decimal


@dataclass
class Order:
    order_id: str
    client_id: str
    api_key: str
    symbol: tuple[str, str]
    side: str  # buy | sell
    requested: Decimal  # base for a sell, quote for a quote-sized buy
    quote_sized: bool
    filled: Decimal = Decimal(0)  # base
    value: Decimal = Decimal(0)  # quote
    fee: Decimal = Decimal(0)
    fee_currency: str = ""
    created_ms: int = 0
    visible_at: float = 0.0  # monotonic: invisible to lookups before (a lost answer)

    @property
    def average(self) -> Decimal:
        return self.value / self.filled if self.filled else Decimal(0)


@dataclass
class Recorded:
    method: str
    path: str
    api_key: str | None
    status: int
    params: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    """`kind`: "5xx" (an HTML 502, nothing booked); "code" (the exchange's error body with
    `code`/`status`, after booking when `booked`); "timeout" (hangs before booking);
    "timeout_after" (books, then hangs past the client's timeout); "rate" (the exchange's
    rate-limit answer, never booked); "latency" (answers normally after `delay` seconds);
    "unseen" (booked and answered, but lookups miss it for `lookup_delay`)."""

    path: str
    kind: str
    remaining: int | None
    method: str | None = None
    code: str = ""
    status: int = 200
    msg: str = "error"
    booked: bool = False
    delay: float = 0.0  # "latency": answer after this long


class FakeVenue:
    """Accounts, prices, faults and records; subclasses answer in their exchange's shapes."""

    order_path = ""  # the POST that places an order
    client_id_field = ""  # the body field holding the client order id

    def __init__(self, *, timeout_sleep: float = 3.0) -> None:
        self.markets: dict[tuple[str, str], Market] = {}
        self.prices: dict[tuple[str, str], Decimal] = {}
        for base, quote, price, lot, tick, min_size, min_value in DEFAULT_MARKETS:
            self.markets[(base, quote)] = Market(
                base, quote, Decimal(lot), Decimal(tick), Decimal(min_size), Decimal(min_value)
            )
            self.prices[(base, quote)] = Decimal(price)
        self.accounts: dict[str, Account] = {}
        self.order_book: list[Order] = []
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.timeout_sleep = timeout_sleep
        self.lookup_delay = 1.5
        self.clock_offset_ms = 0
        self.limits: dict[str, tuple[int, float]] = {}  # path -> (requests, seconds) per key/IP
        self.enforce_limits = True
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._ids = itertools.count(7_000_000_001)
        self._uids = itertools.count(100_001)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- control ---------------------------------------------------------------------------

    def add_account(
        self,
        api_key: str,
        secret: str,
        balances: dict[str, Any] | None = None,
        *,
        passphrase: str = "",
        **permissions: Any,
    ) -> Account:
        account = Account(
            api_key,
            secret,
            passphrase,
            {a: Decimal(str(v)) for a, v in (balances or {}).items()},
            self.default_permissions() | permissions,
            next(self._uids),
        )
        self.accounts[api_key] = account
        return account

    def default_permissions(self) -> dict[str, Any]:
        return {}

    def balances(self, api_key: str) -> dict[str, Decimal]:
        return {a: v for a, v in self.accounts[api_key].balances.items() if v}

    def set_price(self, symbol: str, price: Decimal | str) -> None:
        base, quote = symbol.split("/")
        self.prices[(base, quote)] = Decimal(str(price))

    def inject(self, path: str, kind: str, *, count: int | None = 1, **options: Any) -> Fault:
        fault = Fault(path, kind, count, **options)
        self.faults.append(fault)
        return fault

    def orders(self, api_key: str | None = None) -> list[Order]:
        return [o for o in self.order_book if api_key is None or o.api_key == api_key]

    def order_posts(self, client_order_id: str) -> int:
        """How many times an order placement carried this client order id."""
        return sum(
            1
            for r in self.requests
            if r.path == self.order_path
            and r.method == "POST"
            and r.params.get(self.client_id_field) == client_order_id
        )

    def count(self, path: str, method: str | None = None) -> int:
        return sum(1 for r in self.requests if r.path == path and method in (None, r.method))

    def server_time_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVenue:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # --- for subclasses -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.path != path or (fault.method and fault.method != method):
                continue
            if fault.remaining is not None:
                if fault.remaining <= 0:
                    continue
                fault.remaining -= 1
            return fault
        return None

    def _over_limit(self, path: str, who: str) -> bool:
        """The endpoint's documented limit, per key (private) or per IP (public)."""
        if not self.enforce_limits or path not in self.limits:
            return False
        limit, seconds = self.limits[path]
        hits = self._hits[f"{path}@{who}"]
        now = time.monotonic()
        while hits and now - hits[0] >= seconds:
            hits.popleft()
        if len(hits) >= limit:
            return True
        hits.append(now)
        return False

    async def _hang(self) -> None:
        await asyncio.sleep(self.timeout_sleep)

    def _symbol(self, base: str, quote: str) -> Market:
        market = self.markets.get((base, quote))
        if market is None:
            raise VenueError("symbol", f"{base}/{quote} does not exist")
        return market

    def _fill(
        self,
        account: Account,
        market: Market,
        side: str,
        size: Decimal,
        quote_sized: bool,
        cid: str,
    ) -> Order:
        """A market order filled at once at the current price, 0.1 % fee in what is received."""
        price = self.prices[(market.base, market.quote)]
        if quote_sized:  # a buy spending `size` of the quote
            cost = size
            base = (cost / price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        else:
            base = size
            cost = (size * price).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        pay, get = (market.quote, market.base) if side == "buy" else (market.base, market.quote)
        spend, receive = (cost, base) if side == "buy" else (base, cost)
        if account.balances.get(pay, Decimal(0)) < spend:
            raise VenueError("funds", f"Insufficient {pay} balance")
        fee = (receive * FEE).quantize(Decimal("0.00000001"), rounding=ROUND_DOWN)
        account.balances[pay] = account.balances.get(pay, Decimal(0)) - spend
        account.balances[get] = account.balances.get(get, Decimal(0)) + receive - fee
        order = Order(
            str(next(self._ids)),
            cid,
            account.api_key,
            (market.base, market.quote),
            side,
            size,
            quote_sized,
            filled=base,
            value=cost,
            fee=fee,
            fee_currency=get,
            created_ms=self.server_time_ms(),
        )
        self.order_book.append(order)
        return order

    def _lookup(self, api_key: str, cid: str) -> Order | None:
        """The newest order with this client id, if it is visible yet."""
        for order in reversed(self.order_book):
            if order.api_key == api_key and order.client_id == cid:
                return order if time.monotonic() >= order.visible_at else None
        return None

    def _window(self, api_key: str, pair: tuple[str, str], since: int, until: int) -> list[Order]:
        return [
            o
            for o in self.order_book
            if o.api_key == api_key and o.symbol == pair and since <= o.created_ms <= until
        ]

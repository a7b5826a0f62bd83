"""OKX and Bybit through the real gateway against their loopback fakes: signing, markets,
balances, orders by quote amount, lookups by client id, fees, the permission audit, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
)
from bot.services.exchange import ExchangeHubs, map_error, validate_credentials
from bot.services.execution import client_order_id
from bot.services.venue_budgets import budgets_for
from tests.fakes.bybit import FakeBybit
from tests.fakes.okx import FakeOkx
from tests.fakes.spot_venue import FakeVenue
from tests.services.conftest import engine_settings

WITHDRAW, MOVE = "withdrawals_enabled", "transfer_enabled"
KEY, SECRET, PHRASE = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "F" * 32, "Pass-phrase1"


@pytest.fixture(params=["okx", "bybit"])
async def venue(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, FakeVenue]]:
    fake: FakeVenue = (
        FakeOkx(timeout_sleep=1.5) if request.param == "okx" else FakeBybit(timeout_sleep=1.5)
    )
    async with fake:
        yield request.param, fake


def _hubs(exchange: str, fake: FakeVenue) -> ExchangeHubs:
    return ExchangeHubs(engine_settings("http://127.0.0.1:1", **{f"{exchange}_api_url": fake.url}))


def test_client_ids_fit_each_exchange() -> None:
    okx = client_order_id("a1b2c3", 123456789, "r12s3", "okx")
    assert okx == "rba1b2c3123456789r12s3"
    assert okx.isalnum()
    assert len(okx) <= 32
    assert client_order_id("a1b2c3", 12, "b1", "bybit") == "rba1b2c312-b1"
    assert client_order_id("a1b2c3", 12, "b1") == "rba1b2c312-b1"  # Binance unchanged
    # Run 1 leg "2x" cannot exist (legs start with a letter), so OKX ids stay unambiguous.
    assert client_order_id("a1b2c3", 1, "s2", "okx") != client_order_id("a1b2c3", 12, "s", "okx")


@pytest.mark.parametrize(
    ("exchange", "body", "expected"),
    [
        ("okx", '{"code":"1","data":[{"sCode":"51008","sMsg":"x"}],"msg":""}', InsufficientFunds),
        ("okx", '{"code":"50004","msg":"Endpoint request timeout"}', OutcomeUnknown),
        ("okx", '{"code":"50013","msg":"System is busy"}', OutcomeUnknown),
        ("okx", '{"code":"50011","msg":"Too Many Requests"}', RateLimited),
        ("okx", '{"code":"50102","msg":"Timestamp request expired"}', ClockSkew),
        ("okx", '{"code":"50113","msg":"Invalid Sign"}', AuthenticationFailed),
        ("okx", '{"code":"50105","msg":"passphrase incorrect"}', AuthenticationFailed),
        ("okx", '{"code":"50110","msg":"Invalid IP"}', PermissionDenied),
        ("okx", '{"code":"1","data":[{"sCode":"51016","sMsg":"dup"}]}', DuplicateOrder),
        ("okx", '{"code":"51603","msg":"Order does not exist"}', OrderNotFound),
        ("okx", '{"code":"1","data":[{"sCode":"51020","sMsg":"min"}]}', InvalidOrder),
        ("bybit", '{"retCode":10016,"retMsg":"System error"}', OutcomeUnknown),
        ("bybit", '{"retCode":170007,"retMsg":"Timeout"}', OutcomeUnknown),
        ("bybit", '{"retCode":10006,"retMsg":"Too many visits!"}', RateLimited),
        ("bybit", '{"retCode":10002,"retMsg":"recv_window"}', ClockSkew),
        ("bybit", '{"retCode":10003,"retMsg":"API key is invalid."}', AuthenticationFailed),
        ("bybit", '{"retCode":10004,"retMsg":"error sign!"}', AuthenticationFailed),
        ("bybit", '{"retCode":10005,"retMsg":"Permission denied"}', PermissionDenied),
        ("bybit", '{"retCode":170131,"retMsg":"Insufficient balance."}', InsufficientFunds),
        ("bybit", '{"retCode":170141,"retMsg":"Duplicate clientOrderId"}', DuplicateOrder),
        ("bybit", '{"retCode":170136,"retMsg":"Order quantity too low"}', InvalidOrder),
    ],
)
def test_each_exchange_s_codes_decide(exchange: str, body: str, expected: type[Exception]) -> None:
    # ccxt's class may say anything (a plain ExchangeError here): the exchange's code decides.
    mapped = map_error(ccxt.ExchangeError(f"{exchange} {body}"), exchange)
    assert type(mapped) is expected


def test_a_5xx_or_a_timeout_is_unknown_never_a_rejection() -> None:
    for exchange in ("okx", "bybit"):
        assert isinstance(
            map_error(ccxt.RequestTimeout(f"{exchange} slow"), exchange), OutcomeUnknown
        )
        error = ccxt.ExchangeNotAvailable(f"{exchange} 502 <html>")
        error.http_status = 502
        assert isinstance(map_error(error, exchange), OutcomeUnknown)
    banned = ccxt.DDoSProtection("bybit 403, access too frequent")
    banned.http_status = 403
    mapped = map_error(banned, "bybit")
    assert isinstance(mapped, RateLimited)
    assert mapped.banned


def test_limits_are_per_endpoint_and_per_user() -> None:
    okx = budgets_for("okx")
    first = okx.windows("create_order", "alice")
    second = okx.windows("create_order", "bob")
    assert first[1][0] is not second[1][0]  # per user id
    assert first[1][0].limit == 60
    assert first[1][0].seconds == 2
    tickers = okx.windows("fetch_tickers", "alice")[1][0]
    assert tickers is okx.windows("fetch_tickers", "bob")[1][0]  # per IP: shared by everyone
    bybit = budgets_for("bybit")
    assert bybit.raw.limit == 600
    assert bybit.raw.seconds == 5
    window = bybit.windows("fetch_balance", "alice")[1][0]
    bybit.observe("fetch_balance", "alice", {"x-bapi-limit": "50", "x-bapi-limit-status": "10"})
    assert window.used >= 40  # the exchange's own count is trusted when higher


def _credentials(exchange: str) -> dict[str, Any]:
    return {"passphrase": PHRASE} if exchange == "okx" else {}


async def test_a_live_order_round_trip(venue: tuple[str, FakeVenue]) -> None:
    exchange, fake = venue
    fake.add_account(KEY, SECRET, {"USDT": "1000", "ETH": "1"}, **_credentials(exchange))
    hubs = _hubs(exchange, fake)
    try:
        hub = hubs.get(exchange)
        markets = await hub.markets()
        assert "BTC/USDT" in markets
        assert "ETH/BTC" in markets
        prices = await hub.prices()
        assert prices["BTC/USDT"] == Decimal(60000)
        phrase = PHRASE if exchange == "okx" else None
        async with hub.private(KEY, SECRET, phrase) as account:
            balances = await account.fetch_balances()
            assert balances.free["USDT"] == Decimal(1000)
            cid = client_order_id("abc123", 7, "b1", exchange)
            bought = await account.market_buy_cost("BTC/USDT", Decimal("600"), cid)
            assert bought.status == "closed"
            assert bought.filled == Decimal("0.01")
            assert bought.cost == Decimal(600)
            assert bought.fees == {"BTC": Decimal("0.00001")}  # received asset pays
            sold = await account.market_sell("ETH/USDT", Decimal("0.5"), cid + "x")
            assert sold.filled == Decimal("0.5")
            assert sold.fees == {"USDT": Decimal("1.5")}
            found = await account.fetch_order("BTC/USDT", cid)
            assert found is not None
            assert found.exchange_order_id == bought.exchange_order_id
            assert await account.fetch_order("BTC/USDT", "nosuchorder1") is None
            with pytest.raises(InsufficientFunds):
                await account.market_buy_cost("BTC/USDT", Decimal(5000), cid + "y")
        assert fake.balances(KEY)["USDT"] == Decimal("1000") - 600 + Decimal("1498.5")
    finally:
        await hubs.close()


async def test_a_lost_answer_is_looked_up_and_never_resent(venue: tuple[str, FakeVenue]) -> None:
    exchange, fake = venue
    fake.add_account(KEY, SECRET, {"USDT": "1000"}, **_credentials(exchange))
    fake.inject(fake.order_path, "timeout_after")
    fake.lookup_delay = 0.2
    hubs = _hubs(exchange, fake)
    try:
        async with hubs.get(exchange).private(
            KEY, SECRET, PHRASE if exchange == "okx" else None
        ) as account:
            cid = client_order_id("abc123", 8, "b1", exchange)
            result = await account.market_buy_cost("BTC/USDT", Decimal("60"), cid)
        assert result.filled == Decimal("0.001")
        assert fake.order_posts(cid) == 1
        assert len(fake.orders(KEY)) == 1
    finally:
        await hubs.close()


@pytest.mark.parametrize(
    ("exchange", "permissions", "reason"),
    [
        ("okx", {"perm": "read_only,trade,withdraw"}, "withdrawals_enabled"),
        ("okx", {"perm": "read_only"}, "read_only"),
        (
            "bybit",
            {"permissions": {"Spot": ["SpotTrade"], "Wallet": ["Withdraw"]}},
            "withdrawals_enabled",
        ),
        (
            "bybit",
            {"permissions": {"Spot": ["SpotTrade"], "Wallet": ["AccountTransfer"]}},
            "transfer_enabled",
        ),
        ("bybit", {"readOnly": 1}, "read_only"),
        ("bybit", {"permissions": {"Spot": [], "ContractTrade": ["Order"]}}, "no_spot_trading"),
    ],
)
async def test_the_permission_audit_refuses(
    exchange: str, permissions: dict[str, Any], reason: str
) -> None:
    fake: FakeVenue = FakeOkx() if exchange == "okx" else FakeBybit()
    async with fake:
        fake.add_account(KEY, SECRET, {"USDT": "10"}, **_credentials(exchange), **permissions)
        hubs = _hubs(exchange, fake)
        try:
            with pytest.raises(PermissionDenied) as error:
                await validate_credentials(
                    hubs.get(exchange), KEY, SECRET, PHRASE if exchange == "okx" else None
                )
            assert error.value.reason == reason
            assert SECRET not in str(error.value)
            assert KEY not in str(error.value)
        finally:
            await hubs.close()


async def test_a_good_key_passes_and_a_wrong_passphrase_fails(venue: tuple[str, FakeVenue]) -> None:
    exchange, fake = venue
    fake.add_account(KEY, SECRET, {"USDT": "10"}, **_credentials(exchange))
    hubs = _hubs(exchange, fake)
    try:
        hub = hubs.get(exchange)
        check = await validate_credentials(hub, KEY, SECRET, PHRASE if exchange == "okx" else None)
        assert check.can_trade_spot
        assert not check.can_withdraw
        assert check.ip_restricted is False
        with pytest.raises(AuthenticationFailed):
            await validate_credentials(hub, KEY, "0" * 32, PHRASE if exchange == "okx" else None)
        if exchange == "okx":
            with pytest.raises(AuthenticationFailed):
                await validate_credentials(hub, KEY, SECRET, "wrong-phrase")
    finally:
        await hubs.close()


async def test_a_rate_limited_read_is_waited_out_and_retried(venue: tuple[str, FakeVenue]) -> None:
    exchange, fake = venue
    fake.add_account(KEY, SECRET, {"USDT": "7"}, **_credentials(exchange))
    balance_path = "/api/v5/account/balance" if exchange == "okx" else "/v5/account/wallet-balance"
    fake.inject(balance_path, "rate")  # OKX: HTTP 429 code 50011; Bybit: retCode 10006
    hubs = _hubs(exchange, fake)
    try:
        async with hubs.get(exchange).private(
            KEY, SECRET, PHRASE if exchange == "okx" else None
        ) as account:
            balances = await account.fetch_balances()
        assert balances.free == {"USDT": Decimal(7)}
        assert fake.count(balance_path) == 2
    finally:
        await hubs.close()


async def test_the_fake_s_own_limits_are_never_hit_by_a_burst_of_reads(
    venue: tuple[str, FakeVenue],
) -> None:
    exchange, fake = venue
    fake.add_account(KEY, SECRET, {"USDT": "7"}, **_credentials(exchange))
    hubs = _hubs(exchange, fake)
    try:
        async with hubs.get(exchange).private(
            KEY, SECRET, PHRASE if exchange == "okx" else None
        ) as account:
            for _ in range(14):  # OKX allows 10 balance reads per 2 s: the limiter waits
                await account.fetch_balances()
        assert all(r.status == 200 for r in fake.requests)
    finally:
        await hubs.close()

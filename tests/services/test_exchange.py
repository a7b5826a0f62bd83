"""The exchange gateway: error mapping, shared market data, the limiter, key validation."""

from __future__ import annotations

import asyncio
import time

import ccxt.async_support as ccxt
import pytest

from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    DuplicateOrder,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
    TemporaryExchangeError,
)
from bot.services.exchange import ExchangeHubs, map_error, rewrite_api_urls, validate_credentials
from tests.fakes.binance import FakeBinance
from tests.services.conftest import engine_settings


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (ccxt.AuthenticationError("binance bad key"), AuthenticationFailed),
        (ccxt.PermissionDenied("binance no"), PermissionDenied),
        (ccxt.InsufficientFunds("binance poor"), InsufficientFunds),
        (ccxt.InvalidOrder("binance LOT_SIZE"), InvalidOrder),
        (ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}'), DuplicateOrder),
        (ccxt.DuplicateOrderId("binance dup"), DuplicateOrder),
        (ccxt.OrderNotFound("binance gone"), OrderNotFound),
        (ccxt.RequestTimeout("binance slow"), OutcomeUnknown),
        (ccxt.NetworkError("binance down"), OutcomeUnknown),
        (ccxt.ExchangeNotAvailable("binance 502"), OutcomeUnknown),
        # Binance's own code decides, whatever class ccxt chose for the host it talked to.
        (ccxt.ExchangeError('binance {"code":-1001,"msg":"Internal error"}'), OutcomeUnknown),
        (ccxt.OperationFailed('binance {"code":-1008,"msg":"overloaded"}'), OutcomeUnknown),
        (ccxt.BadRequest('binance {"code":-1021,"msg":"Timestamp"}'), ClockSkew),
        (ccxt.InvalidNonce('binance {"code":-1021,"msg":"Timestamp"}'), ClockSkew),
        (ccxt.RateLimitExceeded("binance 429"), RateLimited),
        (ccxt.DDoSProtection("binance 418"), RateLimited),
        (
            ccxt.DDoSProtection('binance {"code":-2015,"msg":"Invalid API-key"}'),
            AuthenticationFailed,
        ),
        (ccxt.ExchangeError("binance other"), ExchangeError),
    ],
)
def test_error_mapping(raised: Exception, expected: type[Exception]) -> None:
    mapped = map_error(raised)
    assert type(mapped) is expected


def test_mapped_errors_carry_no_url_or_signature() -> None:
    raw = ccxt.AuthenticationError(
        "binance GET https://api.binance.com/api/v3/account?timestamp=1&signature=abcdef 401"
    )
    assert "signature" not in str(map_error(raw))
    assert "abcdef" not in str(map_error(raw))


def test_every_api_url_is_rewritten() -> None:
    client = ccxt.binance()
    rewritten = rewrite_api_urls(client.urls["api"], "http://127.0.0.1:9")
    flat = [v for v in rewritten.values() if isinstance(v, str)]
    assert flat
    assert all(v.startswith("http://127.0.0.1:9/") for v in flat)
    assert rewritten["public"] == "http://127.0.0.1:9/api/v3"
    assert rewritten["sapi"] == "http://127.0.0.1:9/sapi/v1"


async def test_markets_once_and_prices_coalesced(fake_exchange: FakeBinance) -> None:
    hubs = ExchangeHubs(engine_settings(fake_exchange.url, price_ttl_seconds=30))
    hub = hubs.get("binance")
    try:
        results = await asyncio.gather(*(hub.prices() for _ in range(50)))
        assert all(r == results[0] for r in results)
        for n in range(20):
            fake_exchange.add_account(
                f"key{n}".ljust(64, "k"), f"sec{n}".ljust(64, "s"), {"USDT": "1"}
            )
            async with hub.private(f"key{n}".ljust(64, "k"), f"sec{n}".ljust(64, "s")) as account:
                await account.fetch_balances()
        assert fake_exchange.count("/api/v3/exchangeInfo") == 1
        assert fake_exchange.count("/api/v3/ticker/price") == 1
        assert fake_exchange.count("/api/v3/ticker/24hr") == 0
        assert fake_exchange.count("/sapi/v3/asset/getUserAsset") == 20  # SAPI, not /api
        assert fake_exchange.count("/api/v3/account") == 0
        assert "/sapi/v1/capital/config/getall" not in {r.path for r in fake_exchange.requests}
    finally:
        await hubs.close()


async def test_failed_price_fetch_is_not_cached(fake_exchange: FakeBinance) -> None:
    hubs = ExchangeHubs(engine_settings(fake_exchange.url, price_ttl_seconds=30))
    hub = hubs.get("binance")
    try:
        await hub.markets()
        fake_exchange.inject("/api/v3/ticker/price", "502", count=3)
        with pytest.raises(TemporaryExchangeError):
            await hub.prices()
        assert (await hub.prices())["BTC/USDT"] > 0
    finally:
        await hubs.close()


async def test_429_on_reads_is_waited_out_and_retried(fake_exchange: FakeBinance) -> None:
    hubs = ExchangeHubs(engine_settings(fake_exchange.url))
    hub = hubs.get("binance")
    try:
        fake_exchange.inject("/api/v3/exchangeInfo", "429", retry_after=1)
        started = time.monotonic()
        assert await hub.markets()
        assert time.monotonic() - started >= 0.9
        assert fake_exchange.count("/api/v3/exchangeInfo") == 2
    finally:
        await hubs.close()


@pytest.mark.parametrize(
    ("permissions", "reason"),
    [
        ({"enableWithdrawals": True}, "withdrawals_enabled"),
        ({"enableInternalTransfer": True}, "transfer_enabled"),
        ({"permitsUniversalTransfer": True}, "transfer_enabled"),
        ({"enableSpotAndMarginTrading": False}, "no_spot_trading"),
    ],
)
async def test_dangerous_or_useless_keys_are_refused(
    fake_exchange: FakeBinance, permissions: dict[str, bool], reason: str
) -> None:
    key, secret = "A" * 64, "B" * 64
    fake_exchange.add_account(key, secret, {"USDT": "10"}, **permissions)
    hubs = ExchangeHubs(engine_settings(fake_exchange.url))
    try:
        with pytest.raises(PermissionDenied) as error:
            await validate_credentials(hubs.get("binance"), key, secret)
        assert error.value.reason == reason
        assert key not in str(error.value)
        assert secret not in str(error.value)
    finally:
        await hubs.close()


async def test_wrong_secret_and_good_key(fake_exchange: FakeBinance) -> None:
    key, secret = "C" * 64, "D" * 64
    fake_exchange.add_account(key, secret, {"USDT": "10"}, ipRestrict=True)
    hubs = ExchangeHubs(engine_settings(fake_exchange.url))
    try:
        with pytest.raises(AuthenticationFailed) as error:
            await validate_credentials(hubs.get("binance"), key, "E" * 64)
        assert "E" * 64 not in str(error.value)
        assert key not in str(error.value)
        with pytest.raises(AuthenticationFailed):
            await validate_credentials(hubs.get("binance"), "F" * 64, secret)
        check = await validate_credentials(hubs.get("binance"), key, secret)
        assert check.can_trade_spot
        assert check.ip_restricted is True
        assert not check.can_withdraw
    finally:
        await hubs.close()

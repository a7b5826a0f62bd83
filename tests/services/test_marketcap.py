"""MarketCapService against the loopback CoinGecko/CoinMarketCap fake."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

import aiohttp
import pytest

from bot.config import Settings
from bot.errors import (
    AuthenticationFailed,
    MarketCapUnavailable,
    RateLimited,
    TemporaryExchangeError,
)
from bot.services.marketcap import KNOWN_STABLECOINS, MarketCapService, parse_retry_after
from tests.fakes.marketcap import CMC, DEFAULT_CMC_KEY, MARKETS, STABLECOINS, FakeMarketCaps

BAD_KEY = "cmc-wrong-key-d6f1c0ffee"
OTHER_KEY = "cmc-other-key-111111"


class Clock:
    """A monotonic clock the test moves by hand, so TTLs need no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def caps() -> AsyncIterator[FakeMarketCaps]:
    async with FakeMarketCaps(cmc_keys=(DEFAULT_CMC_KEY, OTHER_KEY)) as fake:
        yield fake


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def service(caps: FakeMarketCaps, clock: Clock) -> AsyncIterator[MarketCapService]:
    settings = Settings(coingecko_api_url=caps.coingecko_url, coinmarketcap_api_url=caps.cmc_url)
    svc = MarketCapService(settings, clock=clock, timeout=2)
    try:
        yield svc
    finally:
        await svc.close()


async def test_coingecko_ranking_parsed(service: MarketCapService, caps: FakeMarketCaps) -> None:
    entries = await service.top(250)

    assert [e.symbol for e in entries[:5]] == ["BTC", "ETH", "USDT", "BNB", "SOL"]
    assert [e.rank for e in entries] == sorted(e.rank for e in entries)
    btc = entries[0]
    assert btc.market_cap == Decimal("1296000000000")
    assert isinstance(btc.market_cap, Decimal)
    assert btc.rank == 1
    symbols = [e.symbol for e in entries]
    assert "FRESH" not in symbols  # null market cap skipped
    assert "USDE" in symbols  # upper-cased
    assert len(symbols) == len(set(symbols)) == 31
    assert caps.last_query(MARKETS) == {
        "vs_currency": "usd",
        "order": "market_cap_desc",
        "per_page": "250",
        "page": "1",
    }
    assert caps.last_query(STABLECOINS)["category"] == "stablecoins"
    assert "X-CMC_PRO_API_KEY" not in caps.last_headers(MARKETS)


async def test_limit_trims_and_is_validated(service: MarketCapService) -> None:
    assert [e.symbol for e in await service.top(3)] == ["BTC", "ETH", "USDT"]
    with pytest.raises(ValueError, match="limit"):
        await service.top(0)
    with pytest.raises(ValueError, match="limit"):
        await service.top(251)


async def test_coingecko_flags_stablecoins(service: MarketCapService) -> None:
    entries = await service.top(250)

    flagged = {e.symbol for e in entries if e.is_stablecoin}
    assert flagged == {"USDT", "USDC", "DAI", "USDE", "FDUSD"}


async def test_deny_list_backs_the_category(
    service: MarketCapService, caps: FakeMarketCaps
) -> None:
    # CoinGecko forgets FDUSD in its category; the deny-list still catches it.
    caps.coins = [replace(c, stablecoin=c.stablecoin and c.symbol != "FDUSD") for c in caps.coins]
    assert "FDUSD" in KNOWN_STABLECOINS

    entries = {e.symbol: e for e in await service.top(250)}

    assert entries["FDUSD"].is_stablecoin


async def test_category_down_falls_back_to_deny_list(
    service: MarketCapService, caps: FakeMarketCaps, caplog: pytest.LogCaptureFixture
) -> None:
    caps.fail(STABLECOINS, 503)

    with caplog.at_level(logging.WARNING, logger="bot.services.marketcap"):
        entries = {e.symbol: e for e in await service.top(250)}

    assert entries["USDT"].is_stablecoin
    assert entries["DAI"].is_stablecoin
    assert not entries["BTC"].is_stablecoin
    assert "deny-list" in caplog.text
    # The category failure was not cached: the next call asks again.
    await service.top(250)
    assert caps.requests[STABLECOINS] == 2
    assert caps.requests[MARKETS] == 1


async def test_cmc_ranking_parsed(service: MarketCapService, caps: FakeMarketCaps) -> None:
    entries = await service.top(250, cmc_api_key=DEFAULT_CMC_KEY)

    assert [e.symbol for e in entries[:4]] == ["BTC", "ETH", "USDT", "BNB"]
    assert entries[0].market_cap == Decimal("1296000000000")
    flagged = {e.symbol for e in entries if e.is_stablecoin}
    assert flagged == {"USDT", "USDC", "DAI", "USDE", "FDUSD"}
    assert "FRESH" not in {e.symbol for e in entries}
    assert caps.last_headers(CMC)["X-CMC_PRO_API_KEY"] == DEFAULT_CMC_KEY
    assert DEFAULT_CMC_KEY not in str(caps.last_query(CMC))
    assert caps.last_query(CMC)["convert"] == "USD"
    assert caps.requests[MARKETS] == 0


async def test_cmc_duplicate_symbol_keeps_best_rank(service: MarketCapService) -> None:
    entries = await service.top(250, cmc_api_key=DEFAULT_CMC_KEY)

    tons = [e for e in entries if e.symbol == "TON"]
    assert len(tons) == 1
    assert tons[0].market_cap == Decimal("17600000000")  # Toncoin, not Tokamak Network
    assert tons[0].rank == 9


async def test_cache_holds_within_ttl(
    service: MarketCapService, caps: FakeMarketCaps, clock: Clock
) -> None:
    await service.top(10)
    await service.top(250, cmc_api_key=DEFAULT_CMC_KEY)
    clock.now += 299
    await service.top(50)
    await service.top(5, cmc_api_key=DEFAULT_CMC_KEY)

    assert caps.requests == {MARKETS: 1, STABLECOINS: 1, CMC: 1}

    clock.now += 2  # past the 300 s TTL
    await service.top(10)
    await service.top(10, cmc_api_key=DEFAULT_CMC_KEY)
    assert caps.requests == {MARKETS: 2, STABLECOINS: 2, CMC: 2}


async def test_cache_is_per_cmc_key(service: MarketCapService, caps: FakeMarketCaps) -> None:
    await service.top(10, cmc_api_key=DEFAULT_CMC_KEY)
    await service.top(10, cmc_api_key=OTHER_KEY)
    assert caps.requests[CMC] == 2
    # A wrong key is not served another user's cached ranking.
    with pytest.raises(AuthenticationFailed):
        await service.top(10, cmc_api_key=BAD_KEY)


async def test_ttl_below_a_minute_refused() -> None:
    with pytest.raises(ValueError, match="ttl"):
        MarketCapService(Settings(), ttl=30)


async def test_concurrent_callers_coalesced(
    service: MarketCapService, caps: FakeMarketCaps
) -> None:
    for route in (MARKETS, STABLECOINS, CMC):
        caps.delay(route, 0.2)

    results = await asyncio.gather(
        *(service.top(20) for _ in range(10)),
        *(service.top(20, cmc_api_key=DEFAULT_CMC_KEY) for _ in range(10)),
    )

    assert caps.requests == {MARKETS: 1, STABLECOINS: 1, CMC: 1}
    assert all(r == results[0] for r in results[:10])
    assert all(r == results[10] for r in results[10:])


async def test_cancelled_caller_does_not_cancel_shared_request(
    service: MarketCapService, caps: FakeMarketCaps
) -> None:
    caps.delay(CMC, 0.2)
    first = asyncio.create_task(service.top(5, cmc_api_key=DEFAULT_CMC_KEY))
    second = asyncio.create_task(service.top(5, cmc_api_key=DEFAULT_CMC_KEY))
    await asyncio.sleep(0.05)
    first.cancel()

    assert [e.symbol for e in await second] == ["BTC", "ETH", "USDT", "BNB", "SOL"]
    assert first.cancelled()
    assert caps.requests[CMC] == 1


async def test_concurrent_failure_shared_and_not_cached(
    service: MarketCapService, caps: FakeMarketCaps
) -> None:
    caps.delay(CMC, 0.1)
    caps.fail(CMC, 502)

    results = await asyncio.gather(
        *(service.top(5, cmc_api_key=DEFAULT_CMC_KEY) for _ in range(5)),
        return_exceptions=True,
    )

    assert all(isinstance(r, MarketCapUnavailable) for r in results)
    assert caps.requests[CMC] == 1
    assert len(await service.top(5, cmc_api_key=DEFAULT_CMC_KEY)) == 5
    assert caps.requests[CMC] == 2


async def test_cmc_bad_key_is_authentication_failed_without_the_key(
    service: MarketCapService, caps: FakeMarketCaps, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthenticationFailed) as info:
        await service.top(10, cmc_api_key=BAD_KEY)

    assert str(info.value) == "CoinMarketCap rejected the API key"
    assert BAD_KEY not in repr(info.value.args)
    cause = info.value.__cause__ or info.value.__context__
    assert cause is None or BAD_KEY not in str(cause)
    assert BAD_KEY not in caplog.text
    assert caps.last_headers(CMC)["X-CMC_PRO_API_KEY"] == BAD_KEY


@pytest.mark.parametrize("status", [401, 403])
async def test_cmc_forbidden_is_authentication_failed(
    service: MarketCapService, caps: FakeMarketCaps, status: int
) -> None:
    caps.fail(CMC, status)
    with pytest.raises(AuthenticationFailed, match="CoinMarketCap rejected the API key"):
        await service.top(10, cmc_api_key=DEFAULT_CMC_KEY)


async def test_rejected_key_never_served_stale(
    service: MarketCapService, caps: FakeMarketCaps, clock: Clock
) -> None:
    await service.top(10, cmc_api_key=DEFAULT_CMC_KEY)
    clock.now += 400
    caps.fail(CMC, 401)
    with pytest.raises(AuthenticationFailed):
        await service.top(10, cmc_api_key=DEFAULT_CMC_KEY)


@pytest.mark.parametrize(("route", "key"), [(MARKETS, None), (CMC, DEFAULT_CMC_KEY)])
async def test_429_is_rate_limited_with_retry_after(
    service: MarketCapService, caps: FakeMarketCaps, route: str, key: str | None
) -> None:
    caps.fail(route, 429, retry_after="17")

    with pytest.raises(RateLimited) as info:
        await service.top(10, cmc_api_key=key)

    assert info.value.retry_after == 17.0
    assert isinstance(info.value, TemporaryExchangeError)
    assert DEFAULT_CMC_KEY not in str(info.value)


def test_retry_after_forms() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("nan") is None
    assert parse_retry_after("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    seconds = parse_retry_after(later)
    assert seconds is not None
    assert 100 < seconds <= 120


@pytest.mark.parametrize(("route", "key"), [(MARKETS, None), (CMC, DEFAULT_CMC_KEY)])
async def test_500_is_temporary_and_not_cached(
    service: MarketCapService, caps: FakeMarketCaps, route: str, key: str | None
) -> None:
    caps.fail(route, 500)

    with pytest.raises(MarketCapUnavailable) as info:
        await service.top(10, cmc_api_key=key)
    assert isinstance(info.value, TemporaryExchangeError)
    assert "500" in str(info.value)

    assert len(await service.top(10, cmc_api_key=key)) == 10
    assert caps.requests[route] == 2


@pytest.mark.parametrize(
    "body",
    [
        "<html>502 Bad Gateway</html>",
        '{"status": {"error_code": 0}}',  # valid JSON, not a list
        '[{"id": "bitcoin", "symbol": "btc", "market_cap": NaN, "market_cap_rank": 1}]',
    ],
)
async def test_bad_json_is_temporary(
    service: MarketCapService, caps: FakeMarketCaps, body: str
) -> None:
    caps.fail(MARKETS, 200, body=body)
    with pytest.raises(MarketCapUnavailable):
        await service.top(10)


async def test_malformed_entries_skipped(service: MarketCapService, caps: FakeMarketCaps) -> None:
    body = (
        '[{"id": "bitcoin", "symbol": "btc", "market_cap": 1.5e12, "market_cap_rank": 1},'
        ' {"id": "x", "symbol": "x", "market_cap": "lots", "market_cap_rank": 2},'
        ' {"id": "y", "symbol": "y", "market_cap": 5, "market_cap_rank": true},'
        ' {"id": "z", "symbol": null, "market_cap": 5, "market_cap_rank": 3},'
        ' {"id": "w", "symbol": "w", "market_cap": 0, "market_cap_rank": 4},'
        ' "junk"]'
    )
    caps.fail(MARKETS, 200, body=body)

    entries = await service.top(10)

    assert [(e.symbol, e.market_cap) for e in entries] == [("BTC", Decimal("1.5e12"))]


async def test_timeout_is_temporary(caps: FakeMarketCaps, clock: Clock) -> None:
    settings = Settings(coingecko_api_url=caps.coingecko_url)
    svc = MarketCapService(settings, clock=clock, timeout=0.2)
    caps.delay(MARKETS, 0.6)
    try:
        with pytest.raises(MarketCapUnavailable, match="unreachable"):
            await svc.top(10)
    finally:
        await svc.close()


async def test_unreachable_is_temporary(clock: Clock) -> None:
    async with FakeMarketCaps() as gone:
        url = gone.coingecko_url  # the port is free again once the fake stops
    svc = MarketCapService(Settings(coingecko_api_url=url), clock=clock, timeout=2)
    try:
        with pytest.raises(MarketCapUnavailable):
            await svc.top(10)
    finally:
        await svc.close()


@pytest.mark.parametrize(("route", "key"), [(MARKETS, None), (CMC, DEFAULT_CMC_KEY)])
async def test_stale_cache_served_when_source_is_down(
    service: MarketCapService,
    caps: FakeMarketCaps,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    route: str,
    key: str | None,
) -> None:
    fresh = await service.top(10, cmc_api_key=key)
    caps.set_market_cap("BTC", "1")  # a refresh that got through would change the ranking

    clock.now += 1800  # expired, but younger than an hour
    caps.fail(route, 503)
    with caplog.at_level(logging.WARNING, logger="bot.services.marketcap"):
        assert await service.top(10, cmc_api_key=key) == fresh
    assert "serving market caps" in caplog.text
    if key:
        assert key not in caplog.text

    clock.now += 1801  # now older than an hour: no longer good enough
    caps.fail(route, 503)
    with pytest.raises(MarketCapUnavailable):
        await service.top(10, cmc_api_key=key)

    # Once the source is back the new data replaces the stale entry.
    assert (await service.top(10, cmc_api_key=key))[0].symbol == "ETH"


async def test_external_session_left_open(caps: FakeMarketCaps, clock: Clock) -> None:
    settings = Settings(coingecko_api_url=caps.coingecko_url)
    async with aiohttp.ClientSession() as session:
        svc = MarketCapService(settings, session=session, clock=clock)
        assert len(await svc.top(5)) == 5
        await svc.close()
        assert not session.closed

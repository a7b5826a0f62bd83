"""Binance's own published and captured bodies replayed through the gateway, the planner and the
executor (tests/realdata/binance, sources in bodies.json).

The same error body must mean the same thing whichever host ccxt thinks it talked to: ccxt picks
its error table by URL, so each body goes through the real ccxt error handling for the main
host, an alternative host and the loopback fake.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest
from ccxt.base.decimal_to_precision import TICK_SIZE, TRUNCATE, decimal_to_precision

from bot.domain.limits import buy_cost, sell_amount
from bot.domain.planner import DEFAULT_SAFETY_MARGIN
from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    DuplicateOrder,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
)
from bot.services.exchange_account import parse_order
from bot.services.exchange_errors import annotated_class, map_error
from bot.services.execution import OrderExecutor
from bot.services.fills import apply_fill
from bot.services.market_data import market_from_ccxt
from bot.services.venues import BINANCE_OPTIONS
from tests.fakes.binance_rules import Reject, SymbolRules
from tests.realdata import bodies, error_bodies, symbols_2023

HOSTS = (
    "https://api.binance.com/api/v3/order",
    "https://api1.binance.com/api/v3/order",
    "http://127.0.0.1:9/api/v3/order",
)
EXPECTED: dict[str, type[ExchangeError]] = {
    "-1003": RateLimited,
    "-1003_ban": RateLimited,
    "-1001": OutcomeUnknown,
    "-1007": OutcomeUnknown,
    "-1008": OutcomeUnknown,
    "-1013_notional": InvalidOrder,
    "-1013_lot_size": InvalidOrder,
    "-1013_market_lot_size": InvalidOrder,
    "-1013_market_closed": InvalidOrder,
    "-2010_insufficient": InsufficientFunds,
    "-2010_duplicate": DuplicateOrder,
    "-2015": AuthenticationFailed,
    "-2014": AuthenticationFailed,
    "-1022": AuthenticationFailed,
    "-1021_behind": ClockSkew,
    "-1021_ahead": ClockSkew,
    "-2013": OrderNotFound,
    "-1121": InvalidOrder,
    "-1016": ExchangeError,
}


def _client() -> Any:
    client = annotated_class("binance")({"options": dict(BINANCE_OPTIONS)})
    # What fetch_markets would have read from sapi; spot parsing looks these up.
    client.options["crossMarginPairsData"] = []
    client.options["isolatedMarginPairsData"] = []
    return client


def _raise_like_fetch(client: Any, url: str, status: int, body: dict[str, Any]) -> Exception:
    """What ccxt's fetch() raises for this answer: handle_errors, then the HTTP status."""
    text = json.dumps(body)
    try:
        client.handle_errors(status, "reason", url, "POST", {}, text, body, {}, "")
        client.handle_http_status_code(status, "reason", url, "POST", text)
    except ccxt.BaseError as error:
        return error
    raise AssertionError(f"ccxt raised nothing for {status} {text}")


def test_every_documented_error_body_is_covered() -> None:
    assert set(error_bodies()) == set(EXPECTED)


@pytest.mark.parametrize("url", HOSTS)
@pytest.mark.parametrize("name", sorted(EXPECTED))
async def test_each_error_body_means_the_same_on_every_host(name: str, url: str) -> None:
    client = _client()
    try:
        entry = error_bodies()[name]
        mapped = map_error(_raise_like_fetch(client, url, entry["status"], entry["body"]))
        assert type(mapped) is EXPECTED[name], (name, url, type(mapped))
        assert "http" not in str(mapped)  # no URL (and so no signature) in the text
        if name == "-1003_ban":
            assert isinstance(mapped, RateLimited)
            assert mapped.banned
    finally:
        await client.close()


@pytest.mark.parametrize("url", HOSTS)
@pytest.mark.parametrize(
    ("code", "status"), [(-1001, 400), (-1001, 500), (-1006, 502), (-1007, 408), (-1008, 503)]
)
async def test_internal_errors_are_unknown_outcomes_with_any_status(
    code: int, status: int, url: str
) -> None:
    """Binance sends -1001 with 5xx and with 400: either way the order may have executed."""
    client = _client()
    try:
        body = {"code": code, "msg": "Internal error; unable to process your request."}
        assert type(map_error(_raise_like_fetch(client, url, status, body))) is OutcomeUnknown
    finally:
        await client.close()


async def test_a_revoked_key_after_a_success_is_an_auth_failure_not_a_ban() -> None:
    client = _client()
    try:
        client.options["hasAlreadyAuthenticatedSuccessfully"] = True
        entry = error_bodies()["-2015"]
        error = _raise_like_fetch(client, HOSTS[0], entry["status"], entry["body"])
        assert isinstance(error, ccxt.DDoSProtection)  # ccxt reads it as a temporary ban
        assert type(map_error(error)) is AuthenticationFailed
    finally:
        await client.close()


# --- order bodies ---------------------------------------------------------------------------


def _parsed(name: str) -> Any:
    client = _client()
    wanted = {"LTCBNB", "ADAUSDT", "ADABTC", "BTCUSDT", "LTCBTC"}
    client.set_markets(client.parse_markets([s for s in symbols_2023() if s["symbol"] in wanted]))
    body = bodies()[name]["body"]
    return parse_order(client.parse_order(body), body["clientOrderId"], "")


def test_an_expired_market_order_with_bnb_fees() -> None:
    order = _parsed("order_full_expired_2_fills_bnb_commission")
    assert order.status == "expired"
    assert (order.amount, order.filled, order.cost) == (Decimal(6), Decimal(4), Decimal(4))
    assert order.fees == {"BNB": Decimal("0.002")}


def test_fees_are_summed_per_currency_from_the_fills() -> None:
    order = _parsed("order_full_adabtc_buy_2_fills")
    assert order.fees == {"ADA": Decimal("0.377")}
    five = _parsed("order_full_5_fills_usdt_commission")
    assert five.fees is not None
    assert set(five.fees) == {"USDT"}
    assert five.fees["USDT"] == sum(
        Decimal(f["commission"])
        for f in bodies()["order_full_5_fills_usdt_commission"]["body"]["fills"]
    )


def test_a_looked_up_order_reports_no_fees_rather_than_none_paid() -> None:
    body = dict(bodies()["query_order"]["body"], executedQty="1.0", status="FILLED")
    client = _client()
    order = parse_order(client.parse_order(body), "myOrder1", "LTC/BTC")
    assert order.fees is None  # unknown, to be read from the trades; not "no fee"


def test_a_cost_binance_cannot_give_never_becomes_negative() -> None:
    """Binance: cummulativeQuoteQty below 0 means the data is not available (old orders)."""
    body = dict(
        bodies()["query_order"]["body"],
        executedQty="1.0",
        status="FILLED",
        cummulativeQuoteQty="-1.00000000",
    )
    order = parse_order(_client().parse_order(body), "myOrder1", "LTC/BTC")
    assert order.cost is None
    assert order.average is None
    executor = OrderExecutor(
        None,  # type: ignore[arg-type]
        user_id=1,
        run_id=1,
        dry_run=False,
        account=None,
        prices={"LTC/BTC": Decimal("0.002")},
        markets={},
        quote="BTC",
    )
    outcome = executor.outcome_of("s1", "myOrder1", "sell", "LTC/BTC", Decimal(1), order)
    assert outcome.cost == Decimal("0.002")  # estimated from the price, flagged
    assert outcome.error == "cost_estimated"


def test_a_bnb_fee_is_valued_at_bnb_s_price_not_the_pair_s() -> None:
    order = _parsed("order_full_adausdt_buy_bnb_commission")
    prices = {"ADA/USDT": Decimal("0.2792"), "BNB/USDT": Decimal("220")}
    executor = OrderExecutor(
        None,  # type: ignore[arg-type]
        user_id=1,
        run_id=1,
        dry_run=False,
        account=None,
        prices=prices,
        markets={},
        quote="USDT",
    )
    outcome = executor.outcome_of("b1", "x", "buy", "ADA/USDT", None, order)
    assert outcome.fee_quote == Decimal("0.00001618") * 220
    balances = {"USDT": Decimal(10), "BNB": Decimal("0.01")}
    apply_fill(balances, outcome)
    assert balances["ADA"] == Decimal("17.9")  # the fee was not taken from the ADA
    assert balances["BNB"] == Decimal("0.01") - Decimal("0.00001618")
    assert balances["USDT"] == Decimal(10) - Decimal("4.99768")


def test_a_buy_in_a_bnb_market_pays_its_bnb_fee_from_bnb() -> None:
    order = _parsed("order_full_expired_2_fills_bnb_commission")  # LTC/BNB, fee in BNB
    executor = OrderExecutor(
        None,  # type: ignore[arg-type]
        user_id=1,
        run_id=1,
        dry_run=False,
        account=None,
        prices={"LTC/BNB": Decimal(1), "BNB/USDT": Decimal(220)},
        markets={},
        quote="USDT",
    )
    outcome = executor.outcome_of("b1", "x", "buy", "LTC/BNB", Decimal(6), order)
    balances = {"BNB": Decimal(10)}
    apply_fill(balances, outcome)
    assert balances == {"BNB": Decimal(10) - 4 - Decimal("0.002"), "LTC": Decimal(4)}


# --- the planner against every real USDT symbol --------------------------------------------


def _usdt_markets() -> tuple[Any, list[dict[str, Any]]]:
    client = _client()
    raw = [s for s in symbols_2023() if s["quoteAsset"] == "USDT"]
    client.set_markets(client.parse_markets(raw))
    return client, raw


VALUES = [Decimal(v) for v in ("5", "5.5", "7", "10", "25", "100", "999", "12345", "1e6", "5e7")]


async def test_every_planned_leg_on_every_real_usdt_symbol_passes_binance_s_filters() -> None:
    """Sizes as ccxt will send them, checked by an independent reading of Binance's filters:
    LOT_SIZE and MARKET_LOT_SIZE (both bound market orders), NOTIONAL, and quoteOrderQty
    truncated to the price tick by ccxt."""
    client, raw = _usdt_markets()
    try:
        swept = refused = dropped_count = 0
        for entry in raw:
            rules = SymbolRules.from_exchange_info(entry)
            unified = client.markets_by_id[entry["symbol"]][0]
            market = market_from_ccxt(unified)
            for exponent in (2, 3, 4, 5):
                price = rules.tick * Decimal(10) ** exponent
                for value in VALUES:
                    dropped: list[Any] = []
                    cost = buy_cost(
                        market, value, price, DEFAULT_SAFETY_MARGIN, Decimal(0), value, "X", dropped
                    )
                    amount = sell_amount(
                        market,
                        value / price,
                        price,
                        DEFAULT_SAFETY_MARGIN,
                        Decimal(0),
                        value,
                        "X",
                        "sell",
                        dropped,
                    )
                    dropped_count += len(dropped)
                    if cost is not None:
                        swept += 1
                        sent = Decimal(
                            decimal_to_precision(
                                str(cost), TRUNCATE, unified["precision"]["price"], TICK_SIZE
                            )
                        )
                        assert sent == cost, (entry["symbol"], cost, sent)  # planned as sent
                        try:
                            rules.market_quantity(quantity=None, quote_order_qty=sent, price=price)
                        except Reject as error:
                            refused += 1
                            pytest.fail(f"{entry['symbol']} buy {sent} at {price}: {error.msg}")
                    if amount is not None:
                        swept += 1
                        sent = Decimal(client.amount_to_precision(unified["symbol"], str(amount)))
                        assert sent == amount, (entry["symbol"], amount, sent)
                        try:
                            rules.market_quantity(quantity=sent, quote_order_qty=None, price=price)
                        except Reject as error:
                            refused += 1
                            pytest.fail(f"{entry['symbol']} sell {sent} at {price}: {error.msg}")
        assert len(raw) == 358
        assert swept > 10_000
        assert refused == 0
        assert dropped_count > 0  # the small values are dropped, not sent to be refused
    finally:
        await client.close()


def test_a_buy_is_capped_by_lot_size_as_well_as_market_lot_size() -> None:
    client, raw = _usdt_markets()
    capped = 0
    for entry in raw:
        rules = SymbolRules.from_exchange_info(entry)
        if not (0 < rules.max_qty < rules.market_max_qty):
            continue
        market = market_from_ccxt(client.markets_by_id[entry["symbol"]][0])
        price = rules.tick * 10_000
        huge = rules.max_qty * price * 3
        cost = buy_cost(market, huge, price, DEFAULT_SAFETY_MARGIN, Decimal(0), huge, "X", [])
        assert cost is not None
        assert rules.market_quantity(quantity=None, quote_order_qty=cost, price=price) <= (
            rules.max_qty
        )
        capped += 1
    assert capped > 0  # the real list has symbols whose LOT_SIZE max is the tighter one


def test_the_real_get_user_asset_body_is_read_free_for_plans() -> None:
    """Binance's published getUserAsset example: positive balances only, as strings; free is
    what a plan may sell, freeze and locked are not."""
    from bot.services.exchange_account import user_assets

    balances = user_assets(bodies()["sapi_get_user_asset"]["body"])
    assert balances.free["BNB"] == Decimal("887.47061626")
    assert balances.total["BNB"] == Decimal("887.47061626") + Decimal("10.52")
    assert balances.free["USDT"] == Decimal("50300000001.44911105")
    assert set(balances.free) == {"AVAX", "BCH", "BNB", "BUSD", "SHIB", "USDT", "WRZ"}

"""What users type: weights, intervals, percentages, times and timezones, good and bad."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.parsing import (
    check_interval,
    parse_amount,
    parse_interval,
    parse_next_time,
    parse_percent,
    parse_timezone,
    parse_weights,
)
from bot.errors import ValidationError

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "BTC 50 ETH 30 USDT 20",
        "BTC:50, ETH:30, USDT:20",
        "btc 50% eth 30% usdt 20%",
        "BTC:50,ETH:30,USDT:20",
        "BTC 50.0 ETH 30,0 USDT 20",
    ],
)
def test_weights_formats(text: str) -> None:
    assert parse_weights(text) == {"BTC": Decimal(50), "ETH": Decimal(30), "USDT": Decimal(20)}


@pytest.mark.parametrize(
    "text", ["BTC", "BTC fifty", "BTC 50 BTC 50", "BTC -5", "🚀 50", "BTC 0", "x" * 2000]
)
def test_weights_errors(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_weights(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_parsers_never_crash(text: str) -> None:
    for parse in (parse_weights, parse_interval, parse_percent, parse_timezone):
        try:
            parse(text)
        except ValidationError:
            pass
    try:
        parse_next_time(text, NOW, ZoneInfo("UTC"))
    except ValidationError:
        pass


def test_intervals() -> None:
    assert parse_interval("6h") == timedelta(hours=6)
    assert parse_interval("90m") == timedelta(minutes=90)
    assert parse_interval("1h30m") == timedelta(minutes=90)
    assert parse_interval("2d") == timedelta(days=2)
    assert parse_interval("1w") == timedelta(weeks=1)
    with pytest.raises(ValidationError):
        check_interval(timedelta(minutes=5), min_seconds=900)
    with pytest.raises(ValidationError):
        check_interval(timedelta(days=31), min_seconds=900)
    for bad in ("5y", "", "h", "0m", "1.5h"):
        with pytest.raises(ValidationError):
            parse_interval(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6г", timedelta(hours=6)),
        ("6 год", timedelta(hours=6)),
        ("90хв", timedelta(minutes=90)),
        ("2д", timedelta(days=2)),
        ("3 дн", timedelta(days=3)),
        ("1тиж", timedelta(weeks=1)),
        ("1т", timedelta(weeks=1)),
        ("1г30хв", timedelta(minutes=90)),
        ("6Г", timedelta(hours=6)),
    ],
)
def test_intervals_in_ukrainian_units(text: str, expected: timedelta) -> None:
    assert parse_interval(text) == expected


@pytest.mark.parametrize("bad", ["6ч", "хв", "2 дні", "1 тиждень"])
def test_unknown_ukrainian_units_are_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        parse_interval(bad)


def test_the_shortest_interval_is_told_in_words() -> None:
    from bot.i18n import use_locale

    with use_locale("en"), pytest.raises(ValidationError) as caught:
        check_interval(timedelta(minutes=5), min_seconds=900)
    assert caught.value.params["duration"] == "15 minutes"
    with use_locale("uk"), pytest.raises(ValidationError) as caught:
        check_interval(timedelta(minutes=5), min_seconds=900)
    assert caught.value.params["duration"] == "15 хвилин"


def test_timezone_guess_from_the_telegram_language() -> None:
    from bot.domain.parsing import guess_timezone

    assert guess_timezone("uk") == "Europe/Kyiv"
    assert guess_timezone("pl") == "Europe/Warsaw"
    assert guess_timezone("pt-BR") == "America/Sao_Paulo"
    assert guess_timezone("de-AT") == "Europe/Berlin"
    assert guess_timezone("en") is None
    assert guess_timezone(None) is None


def test_percent() -> None:
    assert parse_percent("2,5") == Decimal("2.5")
    assert parse_percent("5%") == Decimal(5)
    with pytest.raises(ValidationError):
        parse_percent("101")


def test_next_time_in_the_users_timezone() -> None:
    kyiv = ZoneInfo("Europe/Kyiv")
    assert parse_next_time("15:00", NOW, kyiv) == datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    assert parse_next_time("09:00", NOW, kyiv) == datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
    assert parse_next_time("2026-12-01 09:00", NOW, kyiv) == datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    for bad in ("2020-01-01 09:00", "25:00", "2026-02-30 09:00", "tomorrow"):
        with pytest.raises(ValidationError):
            parse_next_time(bad, NOW, kyiv)


def test_timezones() -> None:
    assert parse_timezone("Europe/Kyiv").key == "Europe/Kyiv"
    for bad in ("Mars/Olympus", "../etc/passwd", ""):
        with pytest.raises(ValidationError):
            parse_timezone(bad)


@pytest.mark.parametrize(("text", "value"), [("5", "5"), ("7,5", "7.5"), (" 0.01 ", "0.01")])
def test_amounts(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize("text", ["0", "-5", "five", "5%", "1e3", "", "5 USDT"])
def test_bad_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_amount(text)

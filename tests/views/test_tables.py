"""Phone-width tables: one format per column, no '-0', at most 32 columns, escaped cells."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.i18n import use_locale
from bot.views import tables
from tests.fakes.telegram import html_error


@pytest.mark.parametrize(
    ("value", "places", "signed", "expected"),
    [
        (Decimal("-0.001"), 2, True, "0.00"),
        (Decimal("-0.04"), 1, False, "0.0"),
        (Decimal("12.345"), 2, True, "+12.35"),
        (Decimal("-6.289"), 2, True, "-6.29"),
        (Decimal("1234.5"), 2, False, "1,234.50"),
    ],
)
def test_fixed_never_shows_minus_zero(
    value: Decimal, places: int, signed: bool, expected: str
) -> None:
    with use_locale("en"):
        assert tables.fixed(value, places, signed=signed) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("0.00186666667"), "0.00186667"),
        (Decimal("0.293333333"), "0.293333"),
        (Decimal("1000"), "1,000"),
        (Decimal("-0.000000001"), "0"),
        (Decimal(0), "0"),
    ],
)
def test_amounts_keep_six_significant_digits(value: Decimal, expected: str) -> None:
    with use_locale("en"):
        assert tables.amount(value) == expected


def test_table_aligns_escapes_and_fits_a_phone() -> None:
    text = tables.table(
        ["Asset", "Amount", "USDT"],
        [["A<B", "0.5", "10.00"], ["BTC", "0.00186667", "1,234.56"]],
        right=[False, True, True],
    )
    assert html_error(text) is None
    assert "A&lt;B" in text
    lines = text.removeprefix("<pre>").removesuffix("</pre>").split("\n")
    assert all(len(line) <= tables.PHONE_COLUMNS for line in lines)
    assert lines[2].endswith("1,234.56")
    assert tables.short("VERYLONGCOIN") == "VERYL…"

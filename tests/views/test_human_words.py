"""Machine words never reach the user: permissions, exchange names, /help, unknown commands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.handlers.targets import parse_index_args
from bot.i18n import use_locale
from bot.views import common, keys, status
from tests.accounts import sample_account

BINANCE_FLAGS = {
    "ipRestrict": True,
    "enableReading": True,
    "enableSpotAndMarginTrading": True,
    "enableWithdrawals": False,
    "enableInternalTransfer": False,
    "enableMargin": False,
}


def test_permissions_in_words_in_both_languages() -> None:
    with use_locale("en"):
        assert keys.permission_words(BINANCE_FLAGS) == "reading, spot trading"
    with use_locale("uk"):
        assert keys.permission_words(BINANCE_FLAGS) == "читання, спот-торгівля"
    with use_locale("en"):
        assert keys.permission_words({}) == "none reported"


def test_connected_names_the_exchange_and_shows_the_ip_tip_only_with_an_address() -> None:
    account = sample_account(permissions=BINANCE_FLAGS, ip_restricted=False)
    with use_locale("en"):
        without = keys.connected(account)
        with_ip = keys.connected(account, "203.0.113.7")
    assert "Connected Binance" in without
    assert "enable" not in without.lower()
    assert "IP" not in without
    assert "<code>203.0.113.7</code>" in with_ip
    restricted = sample_account(permissions=BINANCE_FLAGS, ip_restricted=True)
    with use_locale("en"):
        assert "IP" not in keys.connected(restricted, "203.0.113.7")


def test_status_spells_the_exchange_as_it_does() -> None:
    with use_locale("en"):
        text = status.status_text(sample_account())
    assert "Exchange: Binance …a1b2" in text


@pytest.mark.parametrize("language", ["en", "uk"])
def test_help_is_grouped_with_first_steps_and_lists_every_command_once(language: str) -> None:
    with use_locale(language):
        text = common.help_text()
        titles = [title for title, _names in common.help_groups()]
    assert len(titles) == 4
    for title in titles:
        assert f"<b>{title}</b>" in text
    assert "1. /keys" in text
    assert "2. /targets" in text
    assert "3. /rebalance" in text
    for name, _description in common.COMMANDS:
        assert sum(line.startswith(f"/{name} — ") for line in text.splitlines()) == 1, name


def test_unknown_command_names_it_and_the_closest_real_one() -> None:
    assert common.closest_command("stauts") == "status"
    assert common.closest_command("rebalanse") == "rebalance"
    assert common.closest_command("frobnicate") is None
    with use_locale("en"):
        text = common.unknown_command("stauts", "status")
        assert text.startswith("Unknown command /stauts. Did you mean /status?")
        assert "/help" in common.unknown_command("frobnicate", None)
        assert "&lt;b&gt;" in common.unknown_command("<b>", None)


def test_index_keywords_in_ukrainian() -> None:
    assert parse_index_args(["10", "макс", "25", "без", "DOGE", "SHIB"]) == (
        10,
        Decimal(25),
        ["DOGE", "SHIB"],
    )
    assert parse_index_args(["5", "cap", "40", "exclude", "DOGE"]) == (5, Decimal(40), ["DOGE"])

"""Signed callback data: bound to the chat, to its action and payload, and to its issue time."""

from __future__ import annotations

import pytest

from bot.handlers.callbacks import (
    CONFIRM_MAX_AGE,
    MAX_DATA_BYTES,
    MENU_MAX_AGE,
    CallbackSigner,
)

NOW = 1_780_000_000.0


def signer_at(when: float) -> CallbackSigner:
    return CallbackSigner(b"k" * 32, clock=lambda: when)


def test_round_trip_and_binding() -> None:
    data = signer_at(NOW).sign(42, "live", "yes")
    assert signer_at(NOW + 1).verify(42, data) == ("live", "yes")
    assert signer_at(NOW + 1).verify(43, data) is None  # another chat
    action, payload, issued, sig = data.split("|")
    assert signer_at(NOW).verify(42, "|".join((action, "no", issued, sig))) is None
    later = signer_at(NOW + 100).sign(42, "live", "yes").split("|")[2]
    assert signer_at(NOW).verify(42, "|".join((action, payload, later, sig))) is None


@pytest.mark.parametrize(
    ("action", "limit"),
    [
        ("live", CONFIRM_MAX_AGE),
        ("delkeys", CONFIRM_MAX_AGE),
        ("delme", CONFIRM_MAX_AGE),
        ("rb_ok", CONFIRM_MAX_AGE),
        ("hist", MENU_MAX_AGE),
        ("menu", MENU_MAX_AGE),
    ],
)
def test_each_action_expires_after_its_age_limit(action: str, limit: int) -> None:
    data = signer_at(NOW).sign(7, action, "1")
    assert signer_at(NOW + limit).verify(7, data) == (action, "1")
    assert signer_at(NOW + limit + 1).verify(7, data) is None
    assert signer_at(NOW - 3600).verify(7, data) is None  # issued "in the future"


def test_old_format_and_junk_are_refused() -> None:
    assert signer_at(NOW).verify(7, "live|yes|0123456789ab") is None  # before issue times
    for junk in ("", "a|b|c|d", "live|yes|zzzzzzzzzz|AAAAAAAAAAAA", "x" * 80):
        assert signer_at(NOW).verify(7, junk) is None


def test_the_longest_payloads_fit_telegrams_64_bytes() -> None:
    data = signer_at(4_000_000_000).sign(-1001234567890, "interval", "2592000")
    assert len(data.encode()) <= MAX_DATA_BYTES

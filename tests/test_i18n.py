"""Catalogs compile, Ukrainian is complete, placeholders match, and the locale never leaks."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from bot.i18n import (
    N_,
    _,
    current_locale,
    fmt_datetime,
    fmt_decimal,
    fmt_money,
    language_from_telegram,
    ngettext,
    translate,
    use_locale,
)

ROOT = Path(__file__).resolve().parents[1]
LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"\{[a-z_]+\}|%\([a-z_]+\)s")


def _catalog(code: str):  # type: ignore[no-untyped-def]
    with (LOCALES / code / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=code)


@pytest.mark.parametrize("code", ["en", "uk"])
def test_catalogs_compile(code: str, tmp_path: Path) -> None:
    """What `make setup` runs: pybabel compile, which refuses a broken catalog."""
    out = tmp_path / "messages.mo"
    pybabel = Path(sys.executable).parent / "pybabel"
    result = subprocess.run(
        [
            str(pybabel),
            "compile",
            "-D",
            "messages",
            "-i",
            str(LOCALES / code / "LC_MESSAGES" / "messages.po"),
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
    assert not list(_catalog(code).check())


def test_ukrainian_is_complete() -> None:
    catalog = _catalog("uk")
    messages = [m for m in catalog if m.id]
    assert len(messages) > 50
    missing = [
        m.id
        for m in messages
        if m.fuzzy or not m.string or (isinstance(m.string, tuple) and not all(m.string))
    ]
    assert missing == []


@pytest.mark.parametrize("code", ["en", "uk"])
def test_placeholders_match(code: str) -> None:
    for message in _catalog(code):
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        expected = set(PLACEHOLDER.findall(ids[-1]))
        for text in strings:
            if text:
                assert set(PLACEHOLDER.findall(text)) == expected, (message.id, text)


def test_every_extracted_message_is_in_the_template() -> None:
    with (LOCALES / "messages.pot").open("rb") as handle:
        template = {m.id for m in read_po(handle) if m.id}
    ukrainian = {m.id for m in _catalog("uk") if m.id}
    assert template <= ukrainian


async def test_locale_does_not_leak_between_tasks() -> None:
    msgid = "Welcome back!"
    seen: dict[str, list[str]] = {"en": [], "uk": []}

    async def speak(code: str) -> None:
        with use_locale(code):
            for _i in range(20):
                await asyncio.sleep(0)
                seen[code].append(_(msgid))
                assert current_locale() == code

    await asyncio.gather(speak("en"), speak("uk"))
    assert set(seen["en"]) == {msgid}
    assert set(seen["uk"]) == {translate(msgid, "uk")}
    assert translate(msgid, "uk") != msgid


def test_lazy_strings_follow_the_current_locale() -> None:
    lazy = N_("Welcome back!")
    with use_locale("en"):
        assert str(lazy) == "Welcome back!"
    with use_locale("uk"):
        assert str(lazy) == translate("Welcome back!", "uk")


def test_plurals_in_ukrainian() -> None:
    with use_locale("uk"):
        forms = {ngettext("{count} trade", "{count} trades", n).format(count=n) for n in (1, 2, 5)}
    assert len(forms) == 3


def test_formatting_follows_the_locale() -> None:
    value = Decimal("1234.5")
    with use_locale("en"):
        assert fmt_decimal(value, places=2) == "1,234.50"
        assert fmt_money(value, "USDT") == "1,234.50 USDT"
    with use_locale("uk"):
        assert fmt_decimal(value, places=2) == "1\xa0234,50"
    with pytest.raises(ValueError, match="aware"):
        fmt_datetime(datetime(2026, 1, 1), "UTC")  # noqa: DTZ001 - the point of the test
    assert "2026" in fmt_datetime(datetime(2026, 1, 1, tzinfo=UTC), "Europe/Kyiv")


def test_telegram_language_codes() -> None:
    assert language_from_telegram("uk") == "uk"
    assert language_from_telegram("uk-UA") == "uk"
    assert language_from_telegram("de") == "en"
    assert language_from_telegram(None) == "en"

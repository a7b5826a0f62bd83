"""Translations and locale-aware formatting; the current locale lives in a ContextVar, per task."""

from __future__ import annotations

import html
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import datetime, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime as babel_datetime
from babel.dates import format_timedelta as babel_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal as babel_decimal
from babel.support import NullTranslations, Translations
from babel.units import format_unit

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "messages"
SUPPORTED = ("en", "uk")

_default_locale = "en"
_current: ContextVar[str | None] = ContextVar("locale", default=None)


def set_default_locale(code: str) -> None:
    """The locale used where none was set for the task (called once at start-up)."""
    global _default_locale
    _default_locale = code if code in SUPPORTED else "en"


def language_from_telegram(code: str | None) -> str:
    """Telegram's language_code to ours: Ukrainian clients get Ukrainian, everyone else English."""
    return "uk" if code and code.lower().startswith("uk") else "en"


def current_locale() -> str:
    return _current.get() or _default_locale


def set_locale(code: str) -> Token[str | None]:
    return _current.set(code if code in SUPPORTED else "en")


def reset_locale(token: Token[str | None]) -> None:
    _current.reset(token)


@contextmanager
def use_locale(code: str) -> Iterator[None]:
    token = set_locale(code)
    try:
        yield
    finally:
        reset_locale(token)


@lru_cache(maxsize=8)
def _translations(code: str) -> NullTranslations:
    """Compiled catalog of a locale; compiled in memory from the .po when no .mo was built."""
    folder = LOCALES_DIR / code / "LC_MESSAGES"
    mo = folder / f"{DOMAIN}.mo"
    po = folder / f"{DOMAIN}.po"
    if mo.exists() and (not po.exists() or mo.stat().st_mtime >= po.stat().st_mtime):
        with mo.open("rb") as handle:
            return Translations(handle, domain=DOMAIN)
    if po.exists():
        with po.open("rb") as handle:
            catalog = read_po(handle, locale=code)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        return Translations(buffer, domain=DOMAIN)
    return NullTranslations()


def translate(msgid: str, locale: str) -> str:
    return _translations(locale).gettext(msgid)


def _(msgid: str) -> str:
    return _translations(current_locale()).gettext(msgid)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current_locale()).ngettext(singular, plural, n)


class LazyString:
    """A msgid translated when used, in the locale current at that moment (module constants)."""

    __slots__ = ("msgid",)

    def __init__(self, msgid: str) -> None:
        self.msgid = msgid

    def __str__(self) -> str:
        return _(self.msgid)

    def __repr__(self) -> str:
        return f"N_({self.msgid!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(self.msgid)

    def format(self, *args: Any, **kwargs: Any) -> str:
        return str(self).format(*args, **kwargs)


def N_(msgid: str) -> LazyString:
    return LazyString(msgid)


# --- formatting -------------------------------------------------------------------------------


def _locale() -> Locale:
    return Locale.parse(current_locale())


def fmt_decimal(value: Decimal | int, *, places: int | None = None) -> str:
    """A number for people: `places` fixed decimals, else up to 8 significant crypto decimals."""
    number = Decimal(value)
    if places is not None:
        pattern = "#,##0" + ("." + "0" * places if places else "")
        return babel_decimal(number, format=pattern, locale=_locale(), decimal_quantization=True)
    # Keep up to 8 decimals, drop trailing zeros; never through float.
    pattern = "#,##0.########"
    return babel_decimal(number, format=pattern, locale=_locale(), decimal_quantization=True)


def fmt_money(value: Decimal | int, currency: str) -> str:
    """An amount in a (crypto) currency: stablecoins with 2 decimals, others up to 8."""
    places = (
        2
        if currency.upper() in {"USDT", "USDC", "FDUSD", "BUSD", "DAI", "TUSD", "USD", "EUR"}
        else None
    )
    # The code may come from the exchange (a fee currency): escaped for HTML messages.
    return f"{fmt_decimal(value, places=places)} {html.escape(currency, quote=False)}"


def fmt_percent(points: Decimal | int, places: int = 1) -> str:
    """Percentage points (12.5 -> '12.5%')."""
    return fmt_decimal(points, places=places) + "%"


def _zone(tz: str | ZoneInfo) -> ZoneInfo:
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def fmt_datetime(value: datetime, tz: str | ZoneInfo, *, seconds: bool = False) -> str:
    if value.tzinfo is None:
        raise ValueError("fmt_datetime needs an aware datetime")
    pattern = "d MMM y, HH:mm:ss" if seconds else "d MMM y, HH:mm"
    return babel_datetime(value.astimezone(_zone(tz)), pattern, locale=_locale())


def fmt_moment(value: datetime, tz: str | ZoneInfo, now: datetime) -> str:
    """A time soon or just past as `09:00`, anything further away with its date."""
    if value.tzinfo is None or now.tzinfo is None:
        raise ValueError("fmt_moment needs aware datetimes")
    if abs(value - now) < timedelta(hours=20):
        return babel_datetime(value.astimezone(_zone(tz)), "HH:mm", locale=_locale())
    return fmt_datetime(value, tz)


def fmt_date(value: datetime, tz: str | ZoneInfo) -> str:
    if value.tzinfo is None:
        raise ValueError("fmt_date needs an aware datetime")
    return babel_datetime(value.astimezone(_zone(tz)), "d MMM y", locale=_locale())


_UNITS = (
    (604800, "duration-week"),
    (86400, "duration-day"),
    (3600, "duration-hour"),
    (60, "duration-minute"),
    (1, "duration-second"),
)


def fmt_timedelta(value: timedelta, length: Literal["short", "long"] = "long") -> str:
    """An interval in the largest unit that divides it exactly: '90 minutes', not '2 hours'
    (`length="short"`: '90 min', '4 hr'; Ukrainian '4 год' needs no case agreement)."""
    seconds = int(value.total_seconds())
    for size, unit in _UNITS:
        if seconds % size == 0 and seconds >= size:
            return str(format_unit(seconds // size, unit, length=length, locale=_locale()))
    return str(babel_timedelta(value, locale=_locale(), format=length))


def fmt_time_near(value: datetime, tz: str | ZoneInfo, now: datetime) -> str:
    """'09:00' when that is today in `tz`, else '2 Dec, 09:00'."""
    zone = _zone(tz)
    local = value.astimezone(zone)
    pattern = "HH:mm" if local.date() == now.astimezone(zone).date() else "d MMM, HH:mm"
    return babel_datetime(local, pattern, locale=_locale())

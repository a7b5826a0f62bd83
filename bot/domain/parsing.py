"""Parsing what users type (weights, intervals, percentages, times, timezones) with clear errors."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from bot.errors import ValidationError
from bot.i18n import fmt_timedelta

MAX_INPUT = 1000
MAX_ASSETS = 50
MAX_INTERVAL = timedelta(days=30)
_SYMBOL = re.compile(r"^[A-Z0-9]{1,15}$")
_NUMBER = re.compile(r"^\d{1,12}(?:[.,]\d{1,8})?%?$")
# Interval units as people type them, English and Ukrainian (`6h`, `6г`, `90хв`, `2д`, `1тиж`).
_UNITS = {
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 604800,
    "с": 1,
    "сек": 1,
    "хв": 60,
    "г": 3600,
    "год": 3600,
    "д": 86400,
    "дн": 86400,
    "т": 604800,
    "тиж": 604800,
}
_UNIT_PATTERN = "|".join(sorted(_UNITS, key=len, reverse=True))  # longest first: `год` before `г`
_INTERVAL = re.compile(rf"(\d{{1,6}})\s*({_UNIT_PATTERN})")


def _bounded(text: str) -> str:
    text = (text or "").strip()
    if len(text) > MAX_INPUT:
        raise ValidationError("That is too long. Example: /targets BTC 50 ETH 30 USDT 20")
    return text


def _decimal(token: str) -> Decimal | None:
    token = token.strip()
    if not _NUMBER.match(token):
        return None
    try:
        return Decimal(token.rstrip("%").replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid numbers
        return None


def parse_weights(text: str) -> dict[str, Decimal]:
    """`BTC 50 ETH 30 USDT 20`, `BTC:50, ETH:30`, `BTC 50%`, decimal comma or dot."""
    text = _bounded(text)
    # Separators between pairs: commas followed by space or a letter, semicolons, colons, '='.
    normalized = re.sub(r",(?=\s|[A-Za-z]|$)", " ", text)
    tokens = re.split(r"[\s:;=]+", normalized)
    tokens = [t for t in tokens if t]
    if not tokens or len(tokens) % 2:
        raise ValidationError(
            "Give an asset and a weight for each. Example: /targets BTC 50 ETH 30 USDT 20"
        )
    weights: dict[str, Decimal] = {}
    for symbol_token, weight_token in zip(tokens[::2], tokens[1::2], strict=True):
        symbol = symbol_token.upper()
        if not _SYMBOL.match(symbol):
            raise ValidationError(
                "{asset} is not an asset symbol. Example: /targets BTC 50 ETH 30 USDT 20",
                asset=symbol_token[:20],
            )
        weight = _decimal(weight_token)
        if weight is None:
            raise ValidationError(
                "{value} is not a number. Example: /targets BTC 50 ETH 30 USDT 20",
                value=weight_token[:20],
            )
        if weight <= 0:
            raise ValidationError(
                "Weights must be above 0: {asset}. Example: /targets BTC 50 ETH 30 USDT 20",
                asset=symbol,
            )
        if symbol in weights:
            raise ValidationError(
                "{asset} is listed twice. Example: /targets BTC 50 ETH 30 USDT 20", asset=symbol
            )
        weights[symbol] = weight
        if len(weights) > MAX_ASSETS:
            raise ValidationError(
                "At most {count} assets. Example: /targets BTC 50 ETH 30 USDT 20", count=MAX_ASSETS
            )
    return weights


def parse_interval(text: str) -> timedelta:
    """`6h`, `90m`, `2d`, `1w`, `1h30m`; Ukrainian units too: `6г`, `90хв`, `2д`, `1тиж`."""
    text = _bounded(text).lower().replace(" ", "")
    if not text or _INTERVAL.sub("", text):
        raise ValidationError(
            "I cannot read that interval. Example: /interval 6h (units: m, h, d, w)"
        )
    seconds = sum(int(n) * _UNITS[unit] for n, unit in _INTERVAL.findall(text))
    if seconds <= 0:
        raise ValidationError("The interval must be longer than zero. Example: /interval 6h")
    return timedelta(seconds=seconds)


def check_interval(
    interval: timedelta, *, min_seconds: int, max_interval: timedelta = MAX_INTERVAL
) -> timedelta:
    if interval.total_seconds() < min_seconds:
        raise ValidationError(
            "The shortest interval is {duration}. Example: /interval 1h",
            duration=fmt_timedelta(timedelta(seconds=min_seconds)),
        )
    if interval > max_interval:
        raise ValidationError("The longest interval is 30 days. Example: /interval 1w")
    return interval


def parse_percent(text: str) -> Decimal:
    """`5`, `5%`, `2,5`: a percentage between 0 and 100."""
    value = _decimal(_bounded(text))
    if value is None:
        raise ValidationError(
            "{value} is not a percentage. Example: /threshold 5", value=text.strip()[:20]
        )
    if value > 100:
        raise ValidationError("A percentage must be between 0 and 100. Example: /threshold 5")
    return value


def parse_amount(text: str) -> Decimal:
    """`5`, `7.5`, `7,5`: an amount of the quote, more than 0."""
    value = _decimal(_bounded(text))
    if value is None or "%" in text:
        raise ValidationError(
            "{value} is not an amount. Example: /mintrade 5", value=text.strip()[:20]
        )
    if value <= 0:
        raise ValidationError("The minimum trade must be more than 0. Example: /mintrade 5")
    return value


MAX_PAPER_AMOUNT = Decimal(10) ** 12


def parse_paper_amount(text: str) -> Decimal:
    """`5000`, `2500,50`: a paper wallet's size in the quote, above 0."""
    value = _decimal(_bounded(text).replace(" ", "").replace("\u00a0", ""))
    if value is None or not 0 < value <= MAX_PAPER_AMOUNT:
        raise ValidationError(
            "Give the paper wallet's size in your quote currency, e.g. /dryrun wallet 5000"
        )
    return value


def parse_timezone(name: str) -> ZoneInfo:
    name = _bounded(name)
    if not re.fullmatch(r"[A-Za-z0-9_+\-/]{1,64}", name) or name not in _zones():
        raise ValidationError(
            "Unknown timezone {name}. Use an IANA name, e.g. /timezone Europe/Kyiv",
            name=name[:40],
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:  # pragma: no cover - checked above
        raise ValidationError(
            "Unknown timezone {name}. Use an IANA name, e.g. /timezone Europe/Kyiv", name=name[:40]
        ) from error


# A timezone the Telegram language suggests (offered beside Kyiv and UTC in /settings).
_ZONE_BY_LANGUAGE = {
    "uk": "Europe/Kyiv",
    "pl": "Europe/Warsaw",
    "de": "Europe/Berlin",
    "fr": "Europe/Paris",
    "es": "Europe/Madrid",
    "it": "Europe/Rome",
    "pt": "Europe/Lisbon",
    "pt-br": "America/Sao_Paulo",
    "nl": "Europe/Amsterdam",
    "cs": "Europe/Prague",
    "sk": "Europe/Bratislava",
    "ro": "Europe/Bucharest",
    "hu": "Europe/Budapest",
    "bg": "Europe/Sofia",
    "lt": "Europe/Vilnius",
    "lv": "Europe/Riga",
    "et": "Europe/Tallinn",
    "fi": "Europe/Helsinki",
    "sv": "Europe/Stockholm",
    "da": "Europe/Copenhagen",
    "nb": "Europe/Oslo",
    "tr": "Europe/Istanbul",
    "ka": "Asia/Tbilisi",
    "kk": "Asia/Almaty",
    "he": "Asia/Jerusalem",
    "ja": "Asia/Tokyo",
    "ko": "Asia/Seoul",
    "en-gb": "Europe/London",
}


def guess_timezone(language_code: str | None) -> str | None:
    """The IANA zone a Telegram language code suggests (`pl` -> Europe/Warsaw), if any."""
    code = (language_code or "").lower()
    return _ZONE_BY_LANGUAGE.get(code) or _ZONE_BY_LANGUAGE.get(code.split("-", 1)[0])


def _zones() -> set[str]:
    return available_timezones() | {"UTC"}


def parse_next_time(text: str, now_utc: datetime, tz: ZoneInfo) -> datetime:
    """`09:00` (today, or tomorrow if passed) or `2026-12-01 09:00`, in the user's timezone."""
    text = _bounded(text)
    match = re.fullmatch(r"(?:(\d{4})-(\d{1,2})-(\d{1,2})\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?", text)
    if match is None:
        raise ValidationError(
            "I cannot read that time. Example: /next 09:00 or /next 2026-12-01 09:00"
        )
    year, month, day, hour, minute, second = match.groups()
    try:
        clock = time(int(hour), int(minute), int(second or 0))
        local_now = now_utc.astimezone(tz)
        day_value = date(int(year), int(month), int(day)) if year else local_now.date()
    except ValueError as error:
        raise ValidationError(
            "That date or time does not exist. Example: /next 09:00 or /next 2026-12-01 09:00"
        ) from error
    when = datetime.combine(day_value, clock, tzinfo=tz)
    if year is None and when <= local_now:
        when = datetime.combine(day_value + timedelta(days=1), clock, tzinfo=tz)
    when_utc = when.astimezone(UTC)
    if when_utc <= now_utc:
        raise ValidationError(
            "That time is in the past. Example: /next 09:00 or /next 2026-12-01 09:00"
        )
    if when_utc - now_utc > timedelta(days=366):
        raise ValidationError("That is more than a year away. Example: /next 2026-12-01 09:00")
    return when_utc

"""Logging with a filter that keeps tokens, API keys, secrets and signatures out of every line."""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from typing import IO

REDACTED = "***"
MIN_SECRET_LENGTH = 8
MAX_SECRET_LENGTH = 256
MAX_SECRETS = 100_000  # stored or in use: decrypted for a run, being checked, configured
MAX_CANDIDATES = 2_000  # typed at a secret step and well-formed, not yet used

_PATTERNS = (
    # Telegram bot tokens, bare or inside Bot API URLs.
    re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}"),
    # Binance keys and secrets, and HMAC-SHA256 signatures in hex: 64 letters and digits.
    re.compile(r"(?<![A-Za-z0-9])[A-Za-z0-9]{64}(?![A-Za-z0-9])"),
    # OKX secrets (32 hex digits) and its base64 HMAC-SHA256 signatures (43 characters and =).
    re.compile(r"(?<![A-Za-z0-9])[0-9A-F]{32}(?![A-Za-z0-9])"),
    re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{43}=(?![A-Za-z0-9+/=])"),
)
# Keys in query strings, headers, JSON and reprs: `name=value`, `'name': 'value'`.
_LABELLED = re.compile(
    r"(?i)((?:signature|apikey|api_key|api-key|secret|password|passphrase|token|"
    r"x-mbx-apikey|x-cmc_pro_api_key|x-cg-demo-api-key|ok-access-key|ok-access-sign|"
    r"ok-access-passphrase|x-bapi-api-key|x-bapi-sign)[\"']?\s*[:=]\s*[\"']?)"
    r"([^\s&\"',}]+)"
)
# A log line is cut into runs of characters a secret can hold; only those runs are looked up.
_DELIMITERS = "\\s\"'`,;&<>(){}\\[\\]|"
_RUN = re.compile(f"[^{_DELIMITERS}]{{{MIN_SECRET_LENGTH},}}")
_ONE_RUN = re.compile(f"[^{_DELIMITERS}]{{{MIN_SECRET_LENGTH},{MAX_SECRET_LENGTH}}}")


class SecretRegistry:
    """Exact secrets to redact, bounded, looked up in O(length of the line).

    Three tiers: pinned (the bot token, the webhook secret: never evicted), in use (every
    secret decrypted or being checked; least recently used evicted past `capacity`) and
    candidates (well-formed text typed at a secret step; its own smaller bound, so a flood of
    junk can only evict other junk). Nothing is ever cleared wholesale.

    A line is redacted by cutting it into runs of non-delimiter characters and looking up,
    for each distinct registered length, every window of that length in a set: the work per
    line depends on the line and on how many different lengths are registered (at most
    MAX_SECRET_LENGTH - MIN_SECRET_LENGTH + 1), never on how many secrets are.
    """

    def __init__(self, capacity: int = MAX_SECRETS, candidates: int = MAX_CANDIDATES) -> None:
        self.capacity = capacity
        self.candidate_capacity = candidates
        self._pinned: set[str] = set()
        self._in_use: OrderedDict[str, None] = OrderedDict()
        self._candidates: OrderedDict[str, None] = OrderedDict()
        self._all: set[str] = set()
        self._length_counts: dict[int, int] = {}
        self._lengths: tuple[int, ...] = ()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._all)

    def add(self, value: str | None, *, pinned: bool = False, candidate: bool = False) -> None:
        if not value or not _ONE_RUN.fullmatch(value):
            return  # too short to matter, too long, or not one token: patterns cover the rest
        with self._lock:
            if value in self._pinned:
                return
            if pinned:
                self._in_use.pop(value, None)
                self._candidates.pop(value, None)
                self._pinned.add(value)
            elif candidate:
                if value in self._in_use:
                    self._in_use.move_to_end(value)
                    return
                self._candidates[value] = None
                self._candidates.move_to_end(value)
            else:
                self._candidates.pop(value, None)
                self._in_use[value] = None
                self._in_use.move_to_end(value)
            self._remember(value)
            self._evict(self._in_use, self.capacity)
            self._evict(self._candidates, self.candidate_capacity)

    def _remember(self, value: str) -> None:
        if value in self._all:
            return
        self._all.add(value)
        length = len(value)
        self._length_counts[length] = self._length_counts.get(length, 0) + 1
        if self._length_counts[length] == 1:
            self._lengths = tuple(sorted(self._length_counts, reverse=True))

    def _evict(self, tier: OrderedDict[str, None], bound: int) -> None:
        while len(tier) > bound:
            oldest, _none = tier.popitem(last=False)
            self._all.discard(oldest)
            length = len(oldest)
            self._length_counts[length] -= 1
            if not self._length_counts[length]:
                del self._length_counts[length]
                self._lengths = tuple(sorted(self._length_counts, reverse=True))

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Where registered secrets occur in `text` (longest lengths first, may overlap)."""
        known, lengths = self._all, self._lengths
        if not lengths:
            return []
        found: list[tuple[int, int]] = []
        for run in _RUN.finditer(text):
            start, end = run.span()
            size = end - start
            word = run.group()
            if word in known:
                found.append((start, end))
                continue
            for length in lengths:
                if length >= size:
                    continue
                for offset in range(size - length + 1):
                    if word[offset : offset + length] in known:
                        found.append((start + offset, start + offset + length))
        return found

    def redact(self, text: str) -> str:
        spans = self.spans(text)
        if not spans:
            return text
        spans.sort()
        pieces, cursor = [], 0
        for start, end in spans:
            if end <= cursor:
                continue
            if start > cursor:
                pieces.append(text[cursor:start])
                pieces.append(REDACTED)
            elif not pieces or pieces[-1] != REDACTED:
                pieces.append(REDACTED)
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces)


_registry = SecretRegistry()


def register_secret(value: str | None, *, pinned: bool = False) -> None:
    """Never log this exact value: a token, or a key or secret stored, decrypted or in use."""
    _registry.add(value, pinned=pinned)


def register_candidate(value: str | None) -> None:
    """A well-formed key typed at a secret step, not yet used: bounded apart from real ones."""
    _registry.add(value, candidate=True)


def redact(text: str) -> str:
    text = _registry.redact(text)
    for pattern in _PATTERNS:
        text = pattern.sub(REDACTED, text)
    return _LABELLED.sub(lambda m: m.group(1) + REDACTED, text)


class RedactingFilter(logging.Filter):
    """Formats the message (and traceback) once, redacted, so no handler can see the original."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that write what users send or what the database stores, and the level they may log
# at, whatever LOG_LEVEL says. At DEBUG python-telegram-bot dumps raw updates (a key being
# sent to us, before any handler could register it); SQLAlchemy's engine logs every statement
# with its parameters from INFO on, and the drivers log each call with its arguments at DEBUG:
# ciphertext and every user's data.
CLAMPED = {
    "telegram": logging.INFO,
    "sqlalchemy.engine": logging.WARNING,
    "sqlalchemy.pool": logging.WARNING,
    "aiosqlite": logging.INFO,
    "asyncpg": logging.INFO,
}


def make_handler(stream: IO[str] | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(RedactingFilter())
    return handler


def setup_logging(level: str = "INFO", stream: IO[str] | None = None) -> None:
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(make_handler(stream))
    root.setLevel(level)
    # httpx logs every Bot API URL, and those contain the bot token; the rest is noise.
    for noisy in ("httpx", "httpcore", "apscheduler", "ccxt", "aiohttp.access", "telegram.ext"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    numeric = logging.getLevelName(level)
    for name, floor in CLAMPED.items():
        logging.getLogger(name).setLevel(max(numeric, floor))

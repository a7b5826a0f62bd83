"""Logging with a filter that keeps tokens, API keys, secrets and signatures out of every line."""

from __future__ import annotations

import logging
import re
import sys
import threading
from typing import IO

REDACTED = "***"
_MIN_SECRET_LENGTH = 8
_MAX_SECRETS = 50_000

_PATTERNS = (
    # Telegram bot tokens, bare or inside Bot API URLs.
    re.compile(r"(?<![0-9])\d{6,12}:[A-Za-z0-9_-]{30,}"),
    # Request signatures and keys in query strings, headers, JSON and reprs.
    re.compile(
        r"(?i)((?:signature|apikey|api_key|api-key|secret|password|passphrase|token|"
        r"x-mbx-apikey|x-cmc_pro_api_key|x-cg-demo-api-key)[\"']?\s*[:=]\s*[\"']?)"
        r"([^\s&\"',}]+)"
    ),
)

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Never log this exact value (a token, a decrypted key or secret while it is in use)."""
    if not value or len(value) < _MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        if len(_secrets) >= _MAX_SECRETS:
            _secrets.clear()  # bounded: the pattern rules still cover the usual shapes
        _secrets.add(value)


def redact(text: str) -> str:
    with _secrets_lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = _PATTERNS[0].sub(REDACTED, text)
    return _PATTERNS[1].sub(lambda m: m.group(1) + REDACTED, text)


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
    # At DEBUG, python-telegram-bot dumps raw updates: users' messages, which may be the very
    # API key or secret they are sending us, logged before any handler could register it.
    logging.getLogger("telegram").setLevel(max(logging.getLevelName(level), logging.INFO))

"""ccxt's errors onto ours, by the exchange's own error code first and ccxt's class second.

ccxt picks Binance's error table by host: the same body raises a different class through
api.binance.com, api1.binance.com, a proxy or the loopback fake (-1008 is OperationFailed on
the main host and a plain ExchangeError elsewhere), and a message matched by text loses its
code. So every client we build records the HTTP status and the body's code on the exception
it raises, and the mapping reads those: Binance's meaning does not depend on the host.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import ccxt.async_support as ccxt

from bot.errors import (
    AuthenticationFailed,
    ClockSkew,
    DuplicateOrder,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    PermissionDenied,
    RateLimited,
)
from bot.services.exchange_codes import VENUE_CODES, by_venue_code

_CODE_IN_TEXT = re.compile(r'"code"\s*:\s*"?(-?\d+)')
# OKX's refused order: the order's own code is `sCode` (the envelope says "1"); Bybit: retCode.
_SCODE_IN_TEXT = re.compile(r'"sCode"\s*:\s*"?([1-9]\d*)')
_RETCODE_IN_TEXT = re.compile(r'"retCode"\s*:\s*"?([1-9]\d*)')

# Binance spot error codes (errors.md). Unknown outcome: "the execution status is UNKNOWN and
# could have been a success" (rest-api.md on 5XX, and these codes).
BINANCE_UNKNOWN = {-1000, -1001, -1006, -1007, -1008}
BINANCE_RATE = {-1003, -1015}
BINANCE_AUTH = {-1022, -2014, -2015}
BINANCE_PERMISSION = {-1002}
BINANCE_NOT_FOUND = {-2013}
BINANCE_CLOCK = {-1021}


def _body_code(response: dict[str, Any]) -> Any:
    """The code that says what happened: Binance's `code`, OKX's order `sCode` inside a
    `"code": "1"` envelope (else its `code`), Bybit's `retCode`."""
    if "retCode" in response:
        return response.get("retCode")
    code = response.get("code")
    data = response.get("data")
    if str(code) in ("1", "2") and isinstance(data, list):
        for entry in data:
            if isinstance(entry, dict) and str(entry.get("sCode") or "0") != "0":
                return entry["sCode"]
    return code


def _annotate(error: BaseException, status: Any, response: Any, exchange_id: str) -> None:
    if getattr(error, "http_status", None) is None:
        error.http_status = status  # type: ignore[attr-defined]
    if getattr(error, "exchange_id", None) is None:
        error.exchange_id = exchange_id  # type: ignore[attr-defined]
    if getattr(error, "exchange_code", None) is None and isinstance(response, dict):
        code = _body_code(response)
        if isinstance(code, int | str) and str(code).lstrip("-").isdecimal():
            error.exchange_code = int(code)  # type: ignore[attr-defined]


@cache
def annotated_class(exchange_id: str) -> type[Any]:
    """The ccxt class of `exchange_id`, recording status and code on every error it raises."""
    base = getattr(ccxt, exchange_id)

    def handle_errors(self: Any, code: Any, reason: Any, url: Any, method: Any, *rest: Any) -> Any:
        response = rest[2] if len(rest) > 2 else None
        body = rest[1] if len(rest) > 1 else None
        try:
            if isinstance(code, int) and code < 300 and response is None and body:
                # ccxt would hand a non-JSON body (a proxy's page) to the parser, which reads
                # it as, say, an empty account: refuse it instead.
                raise ccxt.BadResponse(f"{self.id} {method} answered {code} with no JSON")
            return base.handle_errors(self, code, reason, url, method, *rest)
        except ccxt.BaseError as error:
            _annotate(error, code, response, exchange_id)
            raise

    def handle_http_status_code(self: Any, code: Any, *rest: Any) -> Any:
        try:
            return base.handle_http_status_code(self, code, *rest)
        except ccxt.BaseError as error:
            _annotate(error, code, None, exchange_id)
            raise

    return type(
        f"Annotated{base.__name__}",
        (base,),
        {"handle_errors": handle_errors, "handle_http_status_code": handle_http_status_code},
    )


def exchange_code(error: BaseException) -> int | None:
    code = getattr(error, "exchange_code", None)
    if isinstance(code, int):
        return code
    text = str(error)
    for pattern in (_SCODE_IN_TEXT, _RETCODE_IN_TEXT, _CODE_IN_TEXT):
        match = pattern.search(text)
        if match:
            return int(match.group(1))
    return None


def _venue_in_text(text: str) -> str | None:
    """ccxt starts its messages with the exchange id (`okx {...}`)."""
    first = text.split(" ", 1)[0]
    return first if first in VENUE_CODES else None


def _safe_text(error: BaseException) -> str:
    """An exception's gist without URLs, query strings or anything that could hold a secret."""
    text = str(error).split(" GET ")[0].split(" POST ")[0].split("?")[0]
    return re.sub(r"https?://\S+", "<url>", text)[:200]


def _by_binance_code(code: int, text: str, raw: str) -> ExchangeError | None:
    if code in BINANCE_UNKNOWN:
        return OutcomeUnknown(text)
    if code in BINANCE_RATE:
        return RateLimited(text)
    if code in BINANCE_CLOCK:
        return ClockSkew(text)
    if code in BINANCE_AUTH:
        return AuthenticationFailed(text)
    if code in BINANCE_PERMISSION:
        return PermissionDenied(text)
    if code in BINANCE_NOT_FOUND:
        return OrderNotFound(text)
    if code == -2010:  # NEW_ORDER_REJECTED: the message says why
        lowered = raw.lower()
        if "insufficient balance" in lowered:
            return InsufficientFunds(text)
        if "duplicate order" in lowered:
            return DuplicateOrder(text)
        return InvalidOrder(text)
    if code == -2011 or code == -1013 or -1199 <= code <= -1100:
        return InvalidOrder(text)
    return None


def _by_status(status: int) -> ExchangeError | None:
    if status in (418, 429):
        return RateLimited("rate limited", banned=status == 418)
    if status >= 500 or status == 408:
        return OutcomeUnknown(f"HTTP {status}")
    return None


# ccxt's classes, subclasses before their parents. A timeout or a dropped connection may have
# delivered the request: its outcome is unknown.
BY_CCXT_CLASS: tuple[tuple[type[BaseException], type[ExchangeError]], ...] = (
    (ccxt.RateLimitExceeded, RateLimited),
    (ccxt.DDoSProtection, RateLimited),
    (ccxt.PermissionDenied, PermissionDenied),
    (ccxt.AuthenticationError, AuthenticationFailed),
    (ccxt.InsufficientFunds, InsufficientFunds),
    (ccxt.DuplicateOrderId, DuplicateOrder),
    (ccxt.OrderNotFound, OrderNotFound),
    (ccxt.InvalidOrder, InvalidOrder),
    (ccxt.BadSymbol, InvalidOrder),
    (ccxt.BadResponse, OutcomeUnknown),  # an answer we cannot read: it may have executed
    (ccxt.RequestTimeout, OutcomeUnknown),
    (ccxt.NetworkError, OutcomeUnknown),
    (ccxt.ExchangeNotAvailable, OutcomeUnknown),
    (ccxt.OnMaintenance, OutcomeUnknown),
)


def _by_code(error: Exception, exchange_id: str | None, text: str) -> ExchangeError | None:
    """What the exchange's own code in the body says (None: no code we know)."""
    status = getattr(error, "http_status", None)
    code = exchange_code(error)
    venue = exchange_id or getattr(error, "exchange_id", None) or _venue_in_text(str(error))
    if venue in VENUE_CODES:
        mapped = by_venue_code(venue, code, text) if code is not None else None
        if mapped is None and venue == "bybit" and status == 403:
            # "403, access too frequent": the IP is over 600 requests per 5 s, banned a while.
            return RateLimited(text, banned=True)
    else:
        mapped = _by_binance_code(code, text, str(error)) if code is not None else None
    if isinstance(mapped, RateLimited):
        mapped.banned = status in (418, 403)
    return mapped


def map_error(error: Exception, exchange_id: str | None = None) -> ExchangeError:
    """The exchange's code decides; then the HTTP status; then ccxt's class (subclasses first)."""
    if isinstance(error, ExchangeError):  # already ours (raised inside the seam)
        return error
    text = _safe_text(error)
    mapped = _by_code(error, exchange_id, text)
    if mapped is not None:
        return mapped
    status = getattr(error, "http_status", None)
    if isinstance(status, int):
        by_status = _by_status(status)
        if by_status is not None:
            by_status.args = (text,)
            return by_status
    if "Duplicate order" in str(error):
        return DuplicateOrder(text)
    if isinstance(error, ccxt.BadRequest) and "Signature" in str(error):
        return AuthenticationFailed(text)
    for ccxt_class, ours in BY_CCXT_CLASS:
        if isinstance(error, ccxt_class):
            return ours(text)
    return ExchangeError(text)

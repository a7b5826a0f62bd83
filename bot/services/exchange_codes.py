"""OKX's and Bybit's own error codes onto our tree (Binance's are in exchange_errors).

OKX answers `{"code": "1", "data": [{"sCode": "51008", "sMsg": ...}], "msg": ...}` for a
refused order (the order's own code is `sCode`) and `{"code": "50011", ...}` otherwise, often
with HTTP 200. Sources: OKX "Error Code" (https://www.okx.com/docs-v5/en/#error-code; REST
50000-50119 public/auth, 51000+ trade), as transcribed with its comments in ccxt 4.5's
okx.py `exceptions.exact`; 50004 "Endpoint request timeout (does not indicate success or
failure of order, please check order status)", 50001/50005/50013/50026 the service busy or
down. Bybit answers `{"retCode": 10006, "retMsg": ...}` with HTTP 200, and HTTP 403 "access too
frequent" when the IP is over 600 requests per 5 s (banned for at least 10 minutes). Sources:
Bybit "Error Codes" (https://bybit-exchange.github.io/docs/v5/error: 10001-10029 general,
170xxx spot trade) and "Rate Limit Rules" (https://bybit-exchange.github.io/docs/v5/rate-limit),
cross-checked with ccxt 4.5's bybit.py `exceptions.exact`. A code we do not list falls through
to the HTTP status and then ccxt's class, like an unlisted Binance code.
"""

from __future__ import annotations

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

OKX_CODES: dict[int, type[ExchangeError]] = {
    # The order may have executed: look it up, never resend.
    50001: OutcomeUnknown,  # service temporarily unavailable (matching engine upgrading)
    50004: OutcomeUnknown,  # endpoint request timeout: "please check order status"
    50005: OutcomeUnknown,  # API offline or unavailable
    50013: OutcomeUnknown,  # system busy
    50026: OutcomeUnknown,  # system error
    51149: OutcomeUnknown,  # order timed out, please try again later
    50011: RateLimited,  # request too frequent (HTTP 429)
    50061: RateLimited,  # sub-account order rate limit reached
    51113: RateLimited,  # market-price order rate limit
    50102: ClockSkew,  # timestamp request expired
    50008: AuthenticationFailed,  # user does not exist
    50100: AuthenticationFailed,  # API frozen
    50101: AuthenticationFailed,  # key does not match the environment (demo/live, site)
    50103: AuthenticationFailed,
    50104: AuthenticationFailed,
    50105: AuthenticationFailed,  # OK-ACCESS-PASSPHRASE incorrect
    50106: AuthenticationFailed,
    50107: AuthenticationFailed,
    50111: AuthenticationFailed,  # invalid OK-ACCESS-KEY
    50112: AuthenticationFailed,  # invalid OK-ACCESS-TIMESTAMP
    50113: AuthenticationFailed,  # invalid signature
    50114: AuthenticationFailed,  # invalid authorization
    50007: PermissionDenied,  # account blocked
    50110: PermissionDenied,  # this IP is not on the key's allow-list
    50120: PermissionDenied,  # the key has no permission for this endpoint
    51009: PermissionDenied,  # order placement blocked by the platform
    51008: InsufficientFunds,
    51119: InsufficientFunds,
    51131: InsufficientFunds,
    58350: InsufficientFunds,
    51016: DuplicateOrder,  # duplicated client order id (among open orders)
    51603: OrderNotFound,  # order does not exist
    51000: InvalidOrder,  # parameter error
    51001: InvalidOrder,  # instrument does not exist
    51004: InvalidOrder,
    51020: InvalidOrder,  # below the minimum amount
    51121: InvalidOrder,  # not a multiple of the lot size
}

BYBIT_CODES: dict[int, type[ExchangeError]] = {
    10000: OutcomeUnknown,  # server timeout
    10016: OutcomeUnknown,  # server error or service restarting
    10019: OutcomeUnknown,  # service restarting
    170001: OutcomeUnknown,  # internal error
    170007: OutcomeUnknown,  # timeout waiting for response from backend server
    170032: OutcomeUnknown,  # network error, try again later
    10006: RateLimited,  # too many visits (per UID)
    10018: RateLimited,  # over the IP rate limit
    170005: RateLimited,  # too many new orders
    10002: ClockSkew,  # timestamp outside recv_window
    10003: AuthenticationFailed,  # invalid API key (or another environment's)
    10004: AuthenticationFailed,  # invalid signature
    10007: AuthenticationFailed,  # authentication failed
    10009: AuthenticationFailed,  # IP banned
    10005: PermissionDenied,  # the key lacks this permission
    10010: PermissionDenied,  # request IP not bound to the key
    10024: PermissionDenied,  # compliance rules
    10027: PermissionDenied,  # trading banned
    10029: PermissionDenied,  # symbol not on the key's whitelist
    170131: InsufficientFunds,  # balance insufficient
    110007: InsufficientFunds,
    170141: DuplicateOrder,  # duplicate clientOrderId
    170213: OrderNotFound,  # order does not exist
    110001: OrderNotFound,
    10001: InvalidOrder,  # parameter error
    170121: InvalidOrder,  # invalid symbol
    170124: InvalidOrder,
    170130: InvalidOrder,
    170135: InvalidOrder,
    170136: InvalidOrder,  # quantity below the minimum
    170137: InvalidOrder,  # too many decimals
    170140: InvalidOrder,  # order value below the minimum
}

VENUE_CODES = {"okx": OKX_CODES, "bybit": BYBIT_CODES}


def by_venue_code(exchange_id: str, code: int, text: str) -> ExchangeError | None:
    table = VENUE_CODES.get(exchange_id)
    if table is None or code not in table:
        return None
    return table[code](text)

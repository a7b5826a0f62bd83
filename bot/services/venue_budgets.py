"""OKX's and Bybit's request limits, in the budget framework Binance's weights use.

Neither counts a shared weight: each endpoint has a limit of its own, per IP for public data
and per user id (account) for private endpoints. Bybit also caps every IP at 600 requests per
5 s over all endpoints (the raw budget here; past it HTTP 403 and a ban of at least 10
minutes). Every limit is kept at 80 % like Binance's.

Sources (read 2026-12): OKX docs-v5, each endpoint's "Rate Limit" / "Rate limit rule" line
(https://www.okx.com/docs-v5/en/#overview-rate-limits: public endpoints by IP, private by
user id; "Place order" 60 requests per 2 s per user id and instrument; "Get order details"
60/2 s; "Get balance" 10/2 s; "Get account configuration" 5/2 s; "Get order history (last 7
days)" 40/2 s; "Get instruments" 20/2 s per IP and instrument type; "Get tickers" 20/2 s;
"Get system time" 10/2 s; sub-account order limit 1,000 order requests per 2 s,
https://www.okx.com/help/fill-ratio-sub-account-rate-limit), matching the costs in ccxt 4.5's
okx.py (rateLimit 100 ms; cost 1/3 for trade/order, 2 for account/balance, 4 for
account/config). Bybit "Rate Limit Rules" (https://bybit-exchange.github.io/docs/v5/rate-limit:
600 requests per 5 s per IP; per UID per second, POST /v5/order/create 20/s for spot) and
ccxt 4.5's bybit.py costs (rateLimit 20 ms: order/realtime and order/history 10/s,
account/wallet-balance 50/s, user/query-api 10/s, account/info 10/s). Bybit's
`X-Bapi-Limit` / `X-Bapi-Limit-Status` headers correct the per-UID windows.
"""

from __future__ import annotations

from bot.services.budgets import API, BINANCE_ENDPOINTS, ORDER, Endpoint, ExchangeBudgets


def _ip(path: str, limit: int, seconds: float) -> Endpoint:
    return Endpoint(path, 1, API, limit, seconds, "ip")


def _user(path: str, limit: int, seconds: float, kind: str = API) -> Endpoint:
    return Endpoint(path, 1, kind, limit, seconds, "user")


OKX_ENDPOINTS: dict[str, Endpoint] = {
    "load_markets": _ip("/api/v5/public/instruments", 20, 2),
    "fetch_tickers": _ip("/api/v5/market/tickers", 20, 2),
    "load_time_difference": _ip("/api/v5/public/time", 10, 2),
    "fetch_balance": _user("/api/v5/account/balance", 10, 2),
    "private_get_account_config": _user("/api/v5/account/config", 5, 2),
    "create_order": _user("/api/v5/trade/order", 60, 2, ORDER),
    "create_market_buy_order_with_cost": _user("/api/v5/trade/order", 60, 2, ORDER),
    "fetch_order": _user("/api/v5/trade/order#get", 60, 2),
    "private_get_trade_orders_history": _user("/api/v5/trade/orders-history", 40, 2),
}

BYBIT_ENDPOINTS: dict[str, Endpoint] = {
    "load_markets": _ip("/v5/market/instruments-info", 600, 5),
    "fetch_tickers": _ip("/v5/market/tickers", 600, 5),
    "load_time_difference": _ip("/v5/market/time", 600, 5),
    "fetch_balance": _user("/v5/account/wallet-balance", 50, 1),
    "private_get_v5_user_query_api": _user("/v5/user/query-api", 10, 1),
    "private_get_v5_account_info": _user("/v5/account/info", 10, 1),
    "create_order": _user("/v5/order/create", 20, 1, ORDER),
    "create_market_buy_order_with_cost": _user("/v5/order/create", 20, 1, ORDER),
    "private_get_v5_order_realtime": _user("/v5/order/realtime", 10, 1),
    "private_get_v5_order_history": _user("/v5/order/history", 10, 1),
}


def budgets_for(exchange_id: str) -> ExchangeBudgets:
    """The budgets of one exchange from this IP, shared by every user of the process."""
    if exchange_id == "okx":
        return ExchangeBudgets(OKX_ENDPOINTS, raw=(1_000_000, 1), orders=[(1000, 2)])
    if exchange_id == "bybit":
        return ExchangeBudgets(BYBIT_ENDPOINTS, raw=(600, 5), orders=[])
    if exchange_id == "binance":
        return ExchangeBudgets(BINANCE_ENDPOINTS)
    return ExchangeBudgets({})

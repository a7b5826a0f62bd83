"""The permission audit of a new API key, one policy for every exchange, each read its own way.

Policy: the key must read the account and trade spot; a key that can withdraw, or move funds
between accounts, is refused (if it ever leaked, the account could be emptied or drained
through a sub-account); a read-only key is refused with its own message, since the bot could
never trade with it live.

Where each exchange says it:
- Binance `GET /sapi/v1/account/apiRestrictions` (REBALANCING.md, "API key permissions").
- OKX `GET /api/v5/account/config` (https://www.okx.com/docs-v5/en/#trading-account-rest-api-
  get-account-configuration): `perm` "Requested permission of the current API key":
  comma-separated `read_only`, `trade`, `withdraw`; `ip` the addresses bound to the key ("" when
  none). ccxt 4.5: `private_get_account_config`.
- Bybit `GET /v5/user/query-api` (https://bybit-exchange.github.io/docs/v5/user/apikey-info):
  `readOnly` 0 read and write, 1 read only; `permissions.Spot` ["SpotTrade"];
  `permissions.Wallet` "AccountTransfer, SubMemberTransfer (master), SubMemberTransferList
  (sub), Withdraw (master)"; `FiatP2P` / `FiatBybitPay` (payments to others); `ips` the bound
  addresses ("*" when none). ccxt 4.5: `private_get_v5_user_query_api`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.errors import PermissionDenied
from bot.services.budgets import interactive

if TYPE_CHECKING:
    from bot.services.exchange import MarketDataHub


@dataclass(frozen=True, slots=True)
class KeyCheck:
    can_read: bool
    can_trade_spot: bool
    can_withdraw: bool
    can_transfer: bool
    ip_restricted: bool | None
    permissions: dict[str, bool] = field(default_factory=dict)
    sandbox_skipped: bool = False


BINANCE_REFUSALS = (
    ("enableWithdrawals", True, "withdrawals_enabled"),
    ("enableInternalTransfer", True, "transfer_enabled"),
    ("permitsUniversalTransfer", True, "transfer_enabled"),
    ("enableReading", False, "no_reading"),
    ("enableSpotAndMarginTrading", False, "no_spot_trading"),
)
# Bybit permission groups that move funds out of the key's account (or to other people).
BYBIT_MOVES_FUNDS = ("Wallet", "FiatP2P", "FiatBybitPay")


def refuse(reason: str) -> PermissionDenied:
    error = PermissionDenied(f"key refused: {reason}")
    error.reason = reason
    return error


def binance_check(restrictions: dict[str, Any]) -> KeyCheck:
    flags = {name: bool(value) for name, value in restrictions.items() if isinstance(value, bool)}
    for name, refused_when, reason in BINANCE_REFUSALS:
        if bool(restrictions.get(name, False)) == refused_when:
            raise refuse(reason)
    return KeyCheck(
        can_read=flags.get("enableReading", False),
        can_trade_spot=flags.get("enableSpotAndMarginTrading", False),
        can_withdraw=flags.get("enableWithdrawals", False),
        can_transfer=flags.get("enableInternalTransfer", False)
        or flags.get("permitsUniversalTransfer", False),
        ip_restricted=bool(restrictions.get("ipRestrict"))
        if "ipRestrict" in restrictions
        else None,
        permissions=flags,
    )


def okx_check(config: dict[str, Any]) -> KeyCheck:
    perms = {p.strip() for p in str(config.get("perm") or "").split(",") if p.strip()}
    if "withdraw" in perms:
        raise refuse("withdrawals_enabled")
    if "trade" not in perms:
        raise refuse("read_only" if "read_only" in perms else "no_spot_trading")
    ip = config.get("ip")
    return KeyCheck(
        can_read=True,
        can_trade_spot=True,
        can_withdraw=False,
        can_transfer=False,
        ip_restricted=bool(str(ip).strip()) if ip is not None else None,
        permissions={"can_read": True, "can_trade_spot": True},
    )


def bybit_check(info: dict[str, Any]) -> KeyCheck:
    permissions = info.get("permissions") if isinstance(info.get("permissions"), dict) else {}
    assert isinstance(permissions, dict)  # noqa: S101 - narrowed above
    wallet = [str(p) for p in permissions.get("Wallet") or []]
    if "Withdraw" in wallet:
        raise refuse("withdrawals_enabled")
    if any(permissions.get(group) for group in BYBIT_MOVES_FUNDS):
        raise refuse("transfer_enabled")
    if str(info.get("readOnly")) == "1":
        raise refuse("read_only")
    if "SpotTrade" not in [str(p) for p in permissions.get("Spot") or []]:
        raise refuse("no_spot_trading")
    ips = [str(ip) for ip in info.get("ips") or []]
    derivatives = bool(permissions.get("ContractTrade") or permissions.get("Derivatives"))
    return KeyCheck(
        can_read=True,
        can_trade_spot=True,
        can_withdraw=False,
        can_transfer=False,
        ip_restricted=bool(ips) and ips != ["*"] if "ips" in info else None,
        permissions={"can_read": True, "can_trade_spot": True, "enableFutures": derivatives},
    )


async def validate_credentials(
    hub: MarketDataHub, api_key: str, secret: str, passphrase: str | None = None
) -> KeyCheck:
    """Prove the key reads balances and may trade spot; refuse keys that can move funds out.
    A chat command: its reads yield to scheduled runs when the budget is short."""
    interactive.set(True)  # the key dialog's own task
    async with hub.private(api_key, secret, passphrase) as account:
        await account.fetch_balances()  # a wrong key, secret or passphrase fails here
        if hub.exchange_id == "binance":
            return binance_check(await account.api_restrictions())
        if hub.exchange_id == "okx":
            return okx_check(await account.key_permissions())
        if hub.exchange_id == "bybit":
            return bybit_check(await account.key_permissions())
    return KeyCheck(True, True, False, False, None, {}, sandbox_skipped=True)

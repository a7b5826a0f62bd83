"""One exception tree for the whole project; user-facing errors carry a translatable message."""

from __future__ import annotations

from typing import Any


class BotError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(BotError):
    """The settings are missing or invalid; the message says what to set."""


class UserError(BotError):
    """An error the user caused and can fix; `message` is an untranslated msgid with named fields.

    Views translate it with `_(err.message).format(**err.params)` in the user's locale, so the
    text is never rendered in the wrong language by the layer that raised it.
    """

    def __init__(self, message: str, **params: Any) -> None:
        super().__init__(message)
        self.message = message
        self.params = params

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, {self.params!r})"


class ValidationError(UserError):
    """Input that does not parse or breaks a rule (a weight, an interval, a time)."""


class InvalidTargets(ValidationError):
    """Target weights that cannot be used (unknown assets, wrong sum, negative)."""


class NotConfigured(UserError):
    """A step needs something the user has not set up yet (keys, targets)."""


class CredentialsError(BotError):
    """Stored credentials cannot be decrypted (wrong or missing master key)."""


# --- exchange errors: the ccxt seam maps library errors onto these -------------------------------


class ExchangeError(BotError):
    """Anything the exchange said no to. Never carries a secret in its text."""

    temporary = False


class AuthenticationFailed(ExchangeError):
    """The key or secret is wrong, expired or deleted."""


class PermissionDenied(ExchangeError):
    """The key works but lacks a permission, or has one we refuse (withdrawals).

    `reason` is a machine-readable code for the view: withdrawals_enabled, transfer_enabled,
    no_spot_trading, no_reading; empty when the exchange itself refused.
    """

    reason: str = ""


class InsufficientFunds(ExchangeError):
    """Not enough free balance for the order."""


class InvalidOrder(ExchangeError):
    """The order breaks a market rule (minimums, precision) or was refused as malformed."""


class DuplicateOrder(InvalidOrder):
    """The client order id was already used: the order exists already."""


class OrderNotFound(ExchangeError):
    """The exchange has no order with that id."""


class TemporaryExchangeError(ExchangeError):
    """Network trouble, timeouts, 5xx: worth retrying later."""

    temporary = True


class OutcomeUnknown(TemporaryExchangeError):
    """The request may or may not have been executed (a timeout, a 5xx, Binance's -1001,
    -1006, -1007, -1008). For a read: retry. For an order: look it up, never resend."""


class ClockSkew(TemporaryExchangeError):
    """The exchange refused a signed request's timestamp (-1021): our clock is off."""


class RateLimited(TemporaryExchangeError):
    """The exchange asked us to slow down (429/418); `retry_after` in seconds when known.

    Binance rejects such a request before processing it, so an order refused this way was
    not placed (unlike `OutcomeUnknown`). `banned` marks a 418: the IP is banned for a while.
    """

    def __init__(
        self, message: str = "rate limited", retry_after: float | None = None, banned: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.banned = banned


class PreviewExpired(UserError):
    """A Confirm for a preview that expired, was used, or is not the user's."""


class ReadsThrottled(UserError):
    """A user asked the exchange too often in a short time (the budget is everyone's)."""


class RunInProgress(UserError):
    """Another run for the same user is under way."""


class ShuttingDown(UserError):
    """The process is stopping: a run that had not recorded or sent anything was let go."""


class MarketCapUnavailable(TemporaryExchangeError):
    """CoinGecko or CoinMarketCap is down, slow or answered nonsense: worth retrying later."""

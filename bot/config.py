"""Settings read once from the environment or `.env` and passed down explicitly."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///data/bot.db"
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")
SUPPORTED_LANGUAGES = ("en", "uk")


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, int):
        return [value]
    return value


class Settings(BaseSettings):
    """Everything configurable; `.env.example` documents each field."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    telegram_bot_token: SecretStr | None = None
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    database_url: str = DEFAULT_DATABASE_URL
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    binance_api_url: str = "https://api.binance.com"
    okx_api_url: str = "https://www.okx.com"
    bybit_api_url: str = "https://api.bybit.com"
    coingecko_api_url: str = "https://api.coingecko.com/api/v3"
    coinmarketcap_api_url: str = "https://pro-api.coinmarketcap.com"
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    allowed_user_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    default_language: str = "en"
    log_level: str = "INFO"
    webhook_url: str | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = 8443
    webhook_secret: SecretStr | None = None
    min_interval_seconds: int = Field(default=900, ge=1)
    exchange_rate_limit: bool = True
    exchange_timeout_seconds: float = Field(default=10.0, gt=0)
    price_ttl_seconds: float = Field(default=10.0, gt=0)
    max_concurrent_runs: int = Field(default=32, ge=1, le=500)
    reconcile_interval_seconds: float = Field(default=60.0, gt=0)
    unknown_order_grace_seconds: float = Field(default=600.0, gt=0)
    user_updates_burst: int = Field(default=10, ge=1)
    user_updates_per_minute: float = Field(default=20.0, gt=0)
    key_checks_per_hour: int = Field(default=5, ge=1)
    # Distributed mode (README "Running on several machines"): unset = one process, no Redis.
    queue_url: SecretStr | None = None
    worker_shard: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    shard_ips: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict)
    # A delivered run not acknowledged for this long goes to another worker (its worker died):
    # well above the longest run, which may wait minutes for exchange budget.
    queue_idle_timeout_seconds: float = Field(default=900.0, gt=0)
    # A slot enqueued this long ago with no run row is sent again (Redis lost it).
    queue_resend_after_seconds: float = Field(default=180.0, gt=0)
    leader_retry_seconds: float = Field(default=5.0, gt=0)
    # The address the exchange sees this bot's requests from, shown when a key is connected so
    # the user can restrict the key to it; without it no IP tip is shown (a guess could be wrong).
    public_ip: str | None = None
    # How long a send that failed on a 5xx or a network error is retried before it is left
    # for the next start (reports) or given up (replies).
    send_retry_seconds: float = Field(default=60.0, ge=0)
    # An answer that waits on the exchange longer than this first shows an interim line.
    interim_after_seconds: float = Field(default=1.0, ge=0)

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _keys_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("admin_ids", "allowed_user_ids", mode="before")
    @classmethod
    def _ids_csv(cls, value: Any) -> Any:
        return _split_csv(value)

    @field_validator("shard_ips", mode="before")
    @classmethod
    def _shard_ips(cls, value: Any) -> Any:
        """`SHARD_IPS=default=203.0.113.7,eu=198.51.100.2`."""
        if isinstance(value, str):
            pairs = {}
            for part in _split_csv(value):
                shard, sep, ip = part.partition("=")
                if not sep or not shard.strip() or not ip.strip():
                    raise ValueError("must be shard=ip pairs separated by commas")
                pairs[shard.strip()] = ip.strip()
            return pairs
        return value

    @field_validator("queue_url")
    @classmethod
    def _queue_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis:// (or rediss://) URL")
        return value

    @property
    def distributed(self) -> bool:
        return self.queue_url is not None

    def distributed_problem(self) -> str | None:
        """Why these settings cannot run distributed, if they cannot."""
        if self.distributed and not self.database_url.startswith("postgresql"):
            return (
                "QUEUE_URL needs a PostgreSQL DATABASE_URL (postgresql+asyncpg://...): the "
                "bot and its workers share one database, and SQLite is one process's file."
            )
        return None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            # Telegram's rule for secret_token is 1-256 of these; fewer than 32 is guessable.
            raise ValueError("must be 32 to 256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("public_ip")
    @classmethod
    def _public_ip(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        return str(ipaddress.ip_address(value.strip()))  # ValueError names a malformed address

    @field_validator("default_language")
    @classmethod
    def _language(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in SUPPORTED_LANGUAGES:
            raise ValueError(f"must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        return value

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be DEBUG, INFO, WARNING, ERROR or CRITICAL")
        return value

    def allows(self, telegram_id: int) -> bool:
        """May this Telegram user use the bot? Everyone when ALLOWED_USER_IDS is empty; admins
        always."""
        return (
            not self.allowed_user_ids
            or telegram_id in self.allowed_user_ids
            or telegram_id in self.admin_ids
        )

    def master_keys(self) -> list[str]:
        """The master secrets, newest first, as plain strings (only for the credential vault)."""
        return [key.get_secret_value() for key in self.encryption_keys]

    def missing(self, *, need_token: bool = True) -> list[str]:
        """Names and fixes of required settings that are not set, for a one-line error."""
        problems = []
        if need_token and not (
            self.telegram_bot_token and self.telegram_bot_token.get_secret_value().strip()
        ):
            problems.append("TELEGRAM_BOT_TOKEN (get one from @BotFather)")
        if not self.encryption_keys:
            problems.append("ENCRYPTION_KEYS (create one with `rebalance-bot gen-key`)")
        return problems


def sqlite_path(url: str) -> Path | None:
    """The file of a file-based SQLite URL (None for other databases and in-memory ones)."""
    prefix = "sqlite+aiosqlite:///"
    if url.startswith(prefix):
        path = url[len(prefix) :].split("?", 1)[0]
        if path and path != ":memory:":
            return Path(path).expanduser()
    return None


def ensure_sqlite_folder(url: str) -> None:
    """Create the folder of a file-based SQLite URL so the first start needs no manual step;
    only its owner may enter it (it holds encrypted keys and everyone's history)."""
    path = sqlite_path(url)
    if path is not None and not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)

"""Accounts: registration, preferences, credentials and the trading session of each user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db.models import (
    NotifyLevel,
    PortfolioTarget,
    TraderSession,
    UserProfile,
)
from bot.db.repositories import Repositories
from bot.db.types import utcnow
from bot.errors import NotConfigured, ValidationError
from bot.log import register_secret
from bot.services.account_model import (  # noqa: F401 - re-exported: callers import them from here
    Account,
    Credentials,
    Schedule,
    Strategy,
    account_of,
    bump_version,
    key_hint,
    strategy_of,
)
from bot.services.credentials import (
    API_KEY,
    API_PASSPHRASE,
    API_SECRET,
    CMC_API_KEY,
    CredentialVault,
)

T = TypeVar("T")


class AccountService:
    """Use cases on one user's account; each method is one unit of work (one commit)."""

    def __init__(
        self, session_factory: async_sessionmaker[AsyncSession], vault: CredentialVault
    ) -> None:
        self._sessions = session_factory
        self._vault = vault

    async def _unit(self, work: Callable[[Repositories], Awaitable[T]]) -> T:
        async with self._sessions() as session, session.begin():
            return await work(Repositories(session))

    async def _account(self, repos: Repositories, user_id: int) -> Account:
        rows = await repos.users.with_settings(user_id=user_id)
        if rows is None:
            raise NotConfigured("You are not registered yet. Send /start first.")
        return account_of(*rows)

    # --- registration ------------------------------------------------------------------------

    async def register(self, telegram_id: int, *, language: str) -> tuple[Account, bool]:
        """The chat's account, created on first contact; the flag says whether it is new."""

        async def work(repos: Repositories) -> tuple[Account, bool]:
            user = await repos.users.by_telegram_id(telegram_id)
            created = user is None
            if user is None:
                user = await repos.users.create(telegram_id, language=language)
            elif user.blocked_bot:  # they came back: message them again
                await repos.users.set_blocked(user.id, False)
            return await self._account(repos, user.id), created

        return await self._unit(work)

    async def find(self, telegram_id: int) -> Account | None:
        """The chat's account, read in one query (every update starts with this)."""

        async def work(repos: Repositories) -> Account | None:
            rows = await repos.users.with_settings(telegram_id=telegram_id)
            return None if rows is None else account_of(*rows)

        return await self._unit(work)

    async def get(self, user_id: int) -> Account:
        return await self._unit(lambda repos: self._account(repos, user_id))

    async def running_schedules(self) -> list[Schedule]:
        """Every user whose automation is on (start-up restores their jobs from this)."""

        async def work(repos: Repositories) -> list[Schedule]:
            return [
                Schedule(
                    user_id=trader.user_id,
                    chat_id=user.telegram_id,
                    interval_seconds=profile.default_interval,
                    next_run_at=trader.next_run_at,
                    timezone=user.timezone,
                )
                for trader, profile, user in await repos.system.running_sessions()
            ]

        return await self._unit(work)

    async def pause_all(self, reason: str) -> list[int]:
        """The operator's kill switch: stop every running automation, remembering why."""

        async def work(repos: Repositories) -> list[int]:
            paused = []
            for trader, profile, _user in await repos.system.running_sessions():
                trader.is_running = False
                trader.paused_reason = reason
                profile.auto_rebalance = False
                paused.append(trader.user_id)
            return paused

        return await self._unit(work)

    async def resume_paused(self, reason: str) -> list[Schedule]:
        """Undo `pause_all`: only automations paused for that reason start again."""

        async def work(repos: Repositories) -> list[Schedule]:
            resumed = []
            for trader, profile, user in await repos.system.paused_sessions(reason):
                trader.is_running = True
                trader.paused_reason = None
                profile.auto_rebalance = True
                resumed.append(
                    Schedule(
                        trader.user_id,
                        user.telegram_id,
                        profile.default_interval,
                        None,
                        timezone=user.timezone,
                    )
                )
            return resumed

        return await self._unit(work)

    async def delete_user(self, user_id: int) -> None:
        await self._unit(lambda repos: repos.users.delete(user_id))

    async def mark_blocked(self, user_id: int, blocked: bool = True) -> None:
        await self._unit(lambda repos: repos.users.set_blocked(user_id, blocked))

    # --- preferences -------------------------------------------------------------------------

    async def _update_user(self, user_id: int, **values: Any) -> Account:
        async def work(repos: Repositories) -> Account:
            user = await repos.users.get(user_id)
            if user is None:
                raise NotConfigured("You are not registered yet. Send /start first.")
            for name, value in values.items():
                setattr(user, name, value)
            return await self._account(repos, user_id)

        return await self._unit(work)

    async def set_language(self, user_id: int, language: str) -> Account:
        return await self._update_user(user_id, language=language)

    async def set_timezone(self, user_id: int, timezone: str) -> Account:
        return await self._update_user(user_id, timezone=timezone)

    async def _update(
        self, user_id: int, change: Callable[[UserProfile, TraderSession, PortfolioTarget], None]
    ) -> Account:
        async def work(repos: Repositories) -> Account:
            profile = await repos.profiles.get(user_id)
            trader = await repos.sessions.get(user_id)
            target = await repos.targets.get(user_id)
            if profile is None or trader is None or target is None:
                raise NotConfigured("You are not registered yet. Send /start first.")
            change(profile, trader, target)
            return await self._account(repos, user_id)

        return await self._unit(work)

    async def set_strategy(self, user_id: int, strategy: Strategy) -> Account:
        def change(_p: UserProfile, _s: TraderSession, target: PortfolioTarget) -> None:
            target.kind = strategy.kind
            target.quote_asset = strategy.quote
            target.weights = {asset: str(w) for asset, w in strategy.weights.items()}
            target.index_size = strategy.index_size
            target.index_cap = strategy.index_cap
            target.exclusions = list(strategy.exclusions)
            bump_version(target)

        return await self._update(user_id, change)

    async def set_threshold(self, user_id: int, points: Decimal) -> Account:
        if not Decimal(0) <= points <= Decimal(100):
            raise ValidationError("The threshold must be between 0 and 100. Example: /threshold 5")

        def change(_p: UserProfile, _s: TraderSession, target: PortfolioTarget) -> None:
            target.threshold = points
            bump_version(target)

        return await self._update(user_id, change)

    async def set_min_trade(self, user_id: int, amount: Decimal) -> Account:
        """The smallest trade worth making, in the quote (the caller checks the exchange's)."""
        if amount <= 0:
            raise ValidationError("The minimum trade must be more than 0. Example: /mintrade 5")

        def change(_p: UserProfile, _s: TraderSession, target: PortfolioTarget) -> None:
            target.min_trade = amount
            bump_version(target)  # a preview planned with the old minimum is not the plan now

        return await self._update(user_id, change)

    async def set_interval(self, user_id: int, seconds: int) -> Account:
        def change(profile: UserProfile, _s: TraderSession, _t: PortfolioTarget) -> None:
            profile.default_interval = seconds

        return await self._update(user_id, change)

    async def set_dry_run(self, user_id: int, dry_run: bool) -> Account:
        def change(_p: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            if dry_run and not trader.dry_run:
                trader.paper_balances = None  # a fresh paper wallet, from the real balances
            trader.dry_run = dry_run

        return await self._update(user_id, change)

    async def set_notify(self, user_id: int, level: str) -> Account:
        NotifyLevel(level)  # refuses anything that is not a known level

        def change(_p: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            trader.notify_level = level

        return await self._update(user_id, change)

    async def set_schedule(
        self,
        user_id: int,
        *,
        running: bool | None = None,
        next_run_at: datetime | None = None,
        last_run_at: datetime | None = None,
        paused_reason: str | None = None,
        clear_next: bool = False,
    ) -> Account:
        """Scheduling state; `paused_reason` is recorded when auto-rebalancing stops by itself."""

        def change(profile: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            if running is not None:
                trader.is_running = running
                profile.auto_rebalance = running
                trader.paused_reason = None if running else paused_reason
            if next_run_at is not None:
                trader.next_run_at = next_run_at
            elif clear_next:
                trader.next_run_at = None
            if last_run_at is not None:
                trader.last_run_at = last_run_at

        return await self._update(user_id, change)

    # --- credentials -------------------------------------------------------------------------

    async def store_credentials(
        self,
        user_id: int,
        *,
        exchange_id: str,
        api_key: str,
        secret: str,
        passphrase: str | None,
        permissions: dict[str, Any],
        ip_restricted: bool | None,
    ) -> Account:
        vault = self._vault

        def change(profile: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            profile.exchange_id = exchange_id
            profile.api_key_encrypted = vault.encrypt(user_id, api_key, API_KEY)
            profile.api_secret_encrypted = vault.encrypt(user_id, secret, API_SECRET)
            profile.api_passphrase_encrypted = (
                vault.encrypt(user_id, passphrase, API_PASSPHRASE) if passphrase else None
            )
            profile.key_hint = key_hint(api_key)
            profile.permissions = permissions
            profile.ip_restricted = ip_restricted
            profile.validated_at = utcnow()
            if trader.paused_reason == "auth":
                trader.paused_reason = None
            # New keys always start in dry-run: trading them for real is a fresh decision.
            trader.dry_run = True
            trader.paper_balances = None  # new keys: the paper wallet follows their balances

        return await self._update(user_id, change)

    async def delete_credentials(self, user_id: int) -> Account:
        def change(profile: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            profile.api_key_encrypted = None
            profile.api_secret_encrypted = None
            profile.api_passphrase_encrypted = None
            profile.key_hint = None
            profile.permissions = None
            profile.ip_restricted = None
            profile.validated_at = None
            profile.auto_rebalance = False
            trader.is_running = False
            trader.next_run_at = None

        return await self._update(user_id, change)

    async def set_paper_wallet(self, user_id: int, balances: dict[str, Decimal] | None) -> Account:
        """Seed dry-run's paper wallet with `balances`, or (None) from the real balances at the
        next dry run."""

        def change(_p: UserProfile, trader: TraderSession, _t: PortfolioTarget) -> None:
            trader.paper_balances = (
                None if balances is None else {a: str(v) for a, v in balances.items() if v > 0}
            )
            trader.paper_started_at = None

        return await self._update(user_id, change)

    async def set_cmc_key(self, user_id: int, key: str | None) -> Account:
        vault = self._vault

        def change(profile: UserProfile, _s: TraderSession, _t: PortfolioTarget) -> None:
            profile.cmc_api_key_encrypted = (
                vault.encrypt(user_id, key, CMC_API_KEY) if key else None
            )

        return await self._update(user_id, change)

    def _open(self, user_id: int, token: str, field: str) -> str:
        """Decrypt one stored secret; from here on no log line can show it."""
        plaintext = self._vault.decrypt(user_id, token, field)
        register_secret(plaintext)
        return plaintext

    def _decrypt(self, profile: UserProfile | None) -> Credentials:
        if profile is None or not profile.has_credentials:
            raise NotConfigured("Connect your exchange first with /keys.")
        user_id = profile.user_id
        return Credentials(
            exchange_id=profile.exchange_id,
            api_key=self._open(user_id, profile.api_key_encrypted or "", API_KEY),
            secret=self._open(user_id, profile.api_secret_encrypted or "", API_SECRET),
            passphrase=(
                self._open(user_id, profile.api_passphrase_encrypted, API_PASSPHRASE)
                if profile.api_passphrase_encrypted
                else None
            ),
        )

    async def credentials(self, user_id: int) -> Credentials:
        """Decrypted exchange credentials for one call; NotConfigured when none are stored."""

        async def work(repos: Repositories) -> Credentials:
            return self._decrypt(await repos.profiles.get(user_id))

        return await self._unit(work)

    async def for_run(self, user_id: int) -> tuple[Account, Credentials]:
        """The account and its decrypted credentials in one read (the start of every run)."""
        account, credentials = await self.with_credentials(user_id)
        if credentials is None:
            raise NotConfigured("Connect your exchange first with /keys.")
        return account, credentials

    async def with_credentials(self, user_id: int) -> tuple[Account, Credentials | None]:
        """The account and its credentials (None when no keys are stored), in one read."""

        async def work(repos: Repositories) -> tuple[Account, Credentials | None]:
            account = await self._account(repos, user_id)
            if not account.has_keys:
                return account, None
            unsettled = await repos.orders.count_unsettled(user_id)
            if unsettled:
                account = replace(account, unsettled_orders=unsettled)
            return account, self._decrypt(await repos.profiles.get(user_id))

        return await self._unit(work)

    async def cmc_key(self, user_id: int) -> str | None:
        async def work(repos: Repositories) -> str | None:
            profile = await repos.profiles.get(user_id)
            if profile is None or not profile.cmc_api_key_encrypted:
                return None
            return self._open(user_id, profile.cmc_api_key_encrypted, CMC_API_KEY)

        return await self._unit(work)

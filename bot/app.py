"""Builds the Telegram Application: services, handlers, jobs, start-up and shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import Application, ApplicationBuilder, ContextTypes, Defaults

from bot.config import Settings
from bot.delivery import DeliveringRateLimiter
from bot.handlers import register_handlers
from bot.handlers.base import BotContext, on_error
from bot.handlers.callbacks import CallbackSigner
from bot.handlers.pasted_keys import pasted_text
from bot.handlers.updates import PerChatUpdateProcessor
from bot.i18n import set_default_locale
from bot.log import register_secret, setup_logging
from bot.services.container import Services
from bot.services.ratelimit import UpdateRateLimiter
from bot.services.startup import StartUp, prepare_database

log = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, dict[Any, Any], dict[Any, Any], dict[Any, Any], Any]


class RebalanceApplication(BotApplication):
    """PTB's Application with a graceful stop that does not wait on the exchange's budget."""

    async def stop(self) -> None:
        """Before PTB waits for running jobs: no job fires any more, and runs that are still
        reading (nothing recorded or sent, maybe queued for minutes behind the weight limit) are
        let go; they run soon after the next start. Runs already placing orders finish."""
        if self.job_queue is not None and self.job_queue.scheduler.running:
            self.job_queue.scheduler.pause()
        from bot.distributed.leading import stop_sending

        await stop_sending(self)
        services: Services | None = self.bot_data.get("services")
        if services is not None:
            let_go = services.rebalancer.drain()
            if let_go:
                log.info("stopping: %d run(s) that had not started trading were let go", let_go)
        await super().stop()


async def _post_init(application: BotApplication) -> None:
    """Services up, interrupted runs reconciled, every user's job restored, menus registered."""
    from bot import jobs
    from bot.handlers.menu import register_command_menus

    settings: Settings = application.bot_data["settings"]
    services = await Services.create(settings)
    application.bot_data["services"] = services
    if services.queue is not None:
        # Distributed: workers run and reconcile; one leader schedules and sends.
        from bot.distributed import leading

        await leading.lead(application, services)
    else:
        reconciled = await services.rebalancer.reconcile()
        if reconciled:
            log.info("reconciled the open runs and unsettled orders of %d user(s)", reconciled)
    reported = await jobs.send_unreported(application)
    if reported:
        log.info("sent %d report(s) a restart had held back", reported)
    restored = await jobs.restore_jobs(application)
    log.info("restored %d scheduled job(s)", restored)
    jobs.schedule_reconciliation(application, settings.reconcile_interval_seconds)
    await register_command_menus(application.bot)


async def _post_shutdown(application: BotApplication) -> None:
    from bot.distributed import leading

    await leading.step_down(application)
    services: Services | None = application.bot_data.get("services")
    if services is not None:
        await services.close()


def make_rate_limiter(retry_seconds: float = 60.0) -> DeliveringRateLimiter:
    """Telegram allows ~30 messages/s overall. A bucket of 30 per second lets 30 go at once and
    30 more within the same second, so the bucket holds one message and refills 28 times a
    second: smooth, just under the limit. RetryAfter is waited out, not dropped; a send that
    failed on a 5xx or a refused connection is retried for about `retry_seconds`."""
    return DeliveringRateLimiter(
        overall_max_rate=1,
        overall_time_period=1 / 28,
        max_retries=5,
        retry_seconds=retry_seconds,
    )


def callback_key(settings: Settings) -> bytes:
    """A key for signing buttons, derived from the newest master so it survives restarts."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    master = settings.master_keys()[0].encode()
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"rebalance-bot/callback-data/v1"
    ).derive(master)


def build_application(settings: Settings) -> BotApplication:
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else ""
    base_url = settings.telegram_api_base_url.rstrip("/")
    file_url = base_url.replace("/bot", "/file/bot", 1) if base_url.endswith("/bot") else base_url
    application = (
        ApplicationBuilder()
        .application_class(RebalanceApplication)
        .token(token)
        .base_url(base_url)
        .base_file_url(file_url)
        .defaults(Defaults(parse_mode=ParseMode.HTML))
        .rate_limiter(make_rate_limiter(settings.send_retry_seconds))
        .concurrent_updates(
            PerChatUpdateProcessor(
                16,
                limiter=UpdateRateLimiter(
                    burst=settings.user_updates_burst,
                    per_minute=settings.user_updates_per_minute,
                ),
                never_drop=pasted_text,  # a pasted key is deleted even from a flood
            )
        )
        .context_types(ContextTypes(context=BotContext))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    application.bot_data["settings"] = settings
    application.bot_data["signer"] = CallbackSigner(callback_key(settings))
    register_handlers(application)
    application.add_error_handler(on_error)
    return application


def prepare(settings: Settings) -> None:
    """Logging, locale and secret redaction for a process that serves the bot."""
    setup_logging(settings.log_level)
    set_default_locale(settings.default_language)
    if settings.telegram_bot_token:
        register_secret(settings.telegram_bot_token.get_secret_value(), pinned=True)
    if settings.queue_url is not None:  # a Redis password never reaches a log line
        password = urlsplit(settings.queue_url.get_secret_value()).password
        if password:
            register_secret(password, pinned=True)


def webhook_path(webhook_url: str) -> str:
    """The path Telegram posts to; a TLS proxy forwards it unchanged to WEBHOOK_LISTEN:PORT."""
    return urlsplit(webhook_url).path.strip("/")


async def _start_up(settings: Settings) -> StartUp:
    facts = await prepare_database(settings)
    register_secret(facts.webhook_secret, pinned=True)
    return facts


def run_bot(settings: Settings) -> None:
    """Migrate and check the database, then poll (or serve the webhook) until SIGINT/SIGTERM,
    then shut down cleanly."""
    prepare(settings)
    facts = asyncio.run(_start_up(settings))
    application = build_application(settings)
    if settings.webhook_url:
        # Telegram sends the secret in X-Telegram-Bot-Api-Secret-Token with every update; PTB
        # answers 403 to a request without it, so a forged update never reaches a handler.
        application.run_webhook(
            listen=settings.webhook_listen,
            port=settings.webhook_port,
            url_path=webhook_path(settings.webhook_url),
            webhook_url=settings.webhook_url,
            secret_token=facts.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
        )
    else:
        application.run_polling(allowed_updates=Update.ALL_TYPES)


@asynccontextmanager
async def running(settings: Settings, *, poll_timeout: int = 1) -> AsyncIterator[BotApplication]:
    """The application polling (or, with WEBHOOK_URL set, serving its webhook) inside an
    already running event loop (tests and benchmarks).

    Mirrors `run_polling` / `run_webhook`: initialize, post_init, start receiving updates,
    start; and the reverse on exit.
    """
    facts = await _start_up(settings)
    application = build_application(settings)
    await application.initialize()
    try:
        await _post_init(application)
        assert application.updater is not None  # noqa: S101 - built with an updater
        if settings.webhook_url:
            await application.updater.start_webhook(
                listen=settings.webhook_listen,
                port=settings.webhook_port,
                url_path=webhook_path(settings.webhook_url),
                webhook_url=settings.webhook_url,
                secret_token=facts.webhook_secret,
                allowed_updates=Update.ALL_TYPES,
            )
        else:
            await application.updater.start_polling(
                poll_interval=0, timeout=poll_timeout, allowed_updates=Update.ALL_TYPES
            )
        await application.start()
        try:
            yield application
        finally:
            await application.updater.stop()
            await application.stop()
    finally:
        await application.shutdown()
        await _post_shutdown(application)

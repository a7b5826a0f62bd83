"""The per-user scheduled job: glue between PTB's JobQueue, the services and the views."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import Application, Job

from bot.db.models import RunTrigger
from bot.db.types import utcnow
from bot.delivery import not_delivered
from bot.errors import NotConfigured, RunInProgress, ShuttingDown
from bot.i18n import use_locale
from bot.services.run_result import Problem, RunResult
from bot.views import notifications

if TYPE_CHECKING:
    from bot.handlers.base import BotContext
    from bot.views.start import ButtonFactory

BotApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600  # a run missed by less than this still happens (coalesced into one)
MAX_JITTER_SECONDS = 30.0
FAILURES_BEFORE_PAUSE = 3  # scheduled runs failing in a row (not for an outage) pause automation
RECONCILE_JOB = "reconcile"
PAUSING_PROBLEMS = {Problem.AUTH: "auth", Problem.PERMISSION: "auth"}


@dataclass(frozen=True, slots=True)
class JobData:
    user_id: int
    chat_id: int


def maybe_delivered(error: TelegramError) -> bool:
    """A send whose answer was lost (a read timeout) may have reached the chat: it counts as
    sent, so a restart never sends it twice. One that surely did not stays unsent."""
    return isinstance(error, NetworkError) and not not_delivered(error)


def job_name(user_id: int) -> str:
    return f"rebalance:{user_id}"


def _jitter(interval_seconds: int) -> float:
    # Spread users so thousands due at the same minute do not hit the exchange in one second.
    return min(MAX_JITTER_SECONDS, interval_seconds / 20)


def cancel_job(application: BotApplication, user_id: int) -> None:
    """Remove the user's job; looked up by its APScheduler id in O(1), not by scanning names."""
    assert application.job_queue is not None  # noqa: S101 - built with the job-queue extra
    job = application.job_queue.scheduler.get_job(job_name(user_id))
    if job is not None:
        job.remove()


def schedule_job(
    application: BotApplication,
    *,
    user_id: int,
    chat_id: int,
    interval_seconds: int,
    first: datetime,
) -> Job[Any]:
    """(Re)create the user's one job: every `interval_seconds`, the next run at `first`."""
    assert application.job_queue is not None  # noqa: S101
    # The job's id is its name, so replacing it is one keyed store write even with 10,000 jobs.
    return application.job_queue.run_repeating(
        run_scheduled,
        interval=interval_seconds,
        first=first,
        name=job_name(user_id),
        data=JobData(user_id=user_id, chat_id=chat_id),
        job_kwargs={
            "coalesce": True,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            "max_instances": 1,
            "jitter": _jitter(interval_seconds),
            "id": job_name(user_id),
            "replace_existing": True,
        },
    )


def next_run_time(application: BotApplication, user_id: int) -> datetime | None:
    assert application.job_queue is not None  # noqa: S101
    job = application.job_queue.scheduler.get_job(job_name(user_id))
    return None if job is None else job.next_run_time


async def stop_not_allowed(application: BotApplication, user_id: int, chat_id: int) -> None:
    """The user was taken off ALLOWED_USER_IDS: automation stops, once, and they are told why."""
    services = application.bot_data["services"]
    cancel_job(application, user_id)
    account = await services.accounts.set_schedule(
        user_id, running=False, paused_reason=notifications.NOT_ALLOWED, clear_next=True
    )
    log.info("user %s: automation stopped, no longer on the allow-list", user_id)
    if account.blocked_bot:
        return
    with use_locale(account.language):
        text = notifications.paused(notifications.NOT_ALLOWED, None)
    try:
        await application.bot.send_message(chat_id, text)
    except Forbidden:
        await services.accounts.mark_blocked(user_id, True)
    except TelegramError:
        log.warning("user %s: could not say why automation stopped", user_id)


async def restore_jobs(application: BotApplication) -> int:
    """Re-create every enabled user's job from the database, the source of truth; a user no
    longer allowed has their automation stopped instead."""
    services = application.bot_data["services"]
    now = utcnow()
    sessions = await services.accounts.running_schedules()
    restored = 0
    for schedule in sessions:
        if not services.settings.allows(schedule.chat_id):
            await stop_not_allowed(application, schedule.user_id, schedule.chat_id)
            continue
        restored += 1
        first = schedule.next_run_at
        if first is None or first <= now:
            # Missed while we were down: one run soon, spread out, not one per missed interval.
            spread = min(60.0, float(schedule.interval_seconds))
            first = now + timedelta(seconds=random.uniform(0.5, max(spread, 0.5)))  # noqa: S311
        schedule_job(
            application,
            user_id=schedule.user_id,
            chat_id=schedule.chat_id,
            interval_seconds=schedule.interval_seconds,
            first=first,
        )
    return restored


async def send_unreported(application: BotApplication) -> int:
    """Report runs whose message a crash prevented, once, as `result_message` decides."""
    services = application.bot_data["services"]
    sent = 0
    for result in await services.history.unreported():
        try:
            account = await services.accounts.get(result.user_id)
        except NotConfigured:
            continue
        text = None
        if not account.blocked_bot:
            with use_locale(account.language):
                text = notifications.result_message(result, account.notify_level)
        if text is not None and notifications.is_quiet(result) and result.trigger != "manual":
            if not await services.history.quiet_report_due(result.user_id, quiet_key(result)):
                text = None
        if text is not None:
            keyboard = notifications.run_keyboard(
                result, buttons_for(application, account.telegram_id)
            )
            try:
                await application.bot.send_message(account.telegram_id, text, reply_markup=keyboard)
                sent += 1
            except Forbidden:
                await services.accounts.mark_blocked(result.user_id, True)
            except TelegramError as error:
                if not maybe_delivered(error):
                    log.warning("user %s: pending report not delivered", result.user_id)
                    continue
                log.warning("user %s: pending report maybe delivered; not resent", result.user_id)
        await services.rebalancer.mark_notified(result.user_id, result)
    return sent


async def run_scheduled(context: BotContext) -> None:
    """One scheduled run for one user, reported per their /notify choice."""
    job = context.job
    if job is None or not isinstance(job.data, JobData):
        return
    data: JobData = job.data
    services = context.services
    try:
        account = await services.accounts.get(data.user_id)
    except NotConfigured:  # the user erased their account; the job goes with it
        job.schedule_removal()
        return
    if not services.settings.allows(account.telegram_id):  # the gate does not see jobs
        await stop_not_allowed(context.application, data.user_id, data.chat_id)
        return
    next_at = job.next_t
    if account.blocked_bot or not account.is_running:
        await services.accounts.set_schedule(data.user_id, next_run_at=next_at)
        return
    with use_locale(account.language):
        try:
            result = await services.rebalancer.run(data.user_id, RunTrigger.AUTO)
        except RunInProgress:
            log.info("user %s: scheduled run skipped, a manual run is in progress", data.user_id)
            return
        except ShuttingDown:
            # Nothing was recorded or sent; next_run_at stays due, so the next start runs it.
            log.info("user %s: scheduled run let go, the bot is stopping", data.user_id)
            return
        except NotConfigured as error:  # the account itself is gone
            await _pause(context, data, account.notify_level, reason="not_configured")
            log.info("user %s: paused, not configured (%s)", data.user_id, error.message)
            return
        await services.accounts.set_schedule(
            data.user_id, next_run_at=next_at, last_run_at=utcnow()
        )
        reason = _pause_reason(result)
        if reason is not None:
            log.info("user %s: automation paused (%s)", data.user_id, reason)
            await _pause(context, data, account.notify_level, reason=reason, result=result)
            return
        await notify(context, data, account.notify_level, result)


def _pause_reason(result: RunResult) -> str | None:
    """Why a scheduled run's outcome stops the user's automation, if it does."""
    if result.problem in PAUSING_PROBLEMS:
        return PAUSING_PROBLEMS[result.problem]
    if result.problem == Problem.NOT_CONFIGURED:
        return "not_configured"
    streak = result.detail.get("failure_streak")
    if isinstance(streak, int) and streak >= FAILURES_BEFORE_PAUSE:
        return "errors"
    return None


def schedule_reconciliation(application: BotApplication, interval_seconds: float) -> None:
    """Every `interval_seconds`: close runs whose process died, look unsettled orders up, and
    tell users whose reported outcome the exchange has since changed."""
    assert application.job_queue is not None  # noqa: S101
    application.job_queue.run_repeating(
        reconcile_job,
        interval=interval_seconds,
        first=interval_seconds,
        name=RECONCILE_JOB,
        job_kwargs={"id": RECONCILE_JOB, "replace_existing": True, "coalesce": True},
    )


async def reconcile_job(context: BotContext) -> None:
    await context.services.rebalancer.reconcile()
    await send_revisions(context.application)


async def send_revisions(application: BotApplication) -> int:
    """One message per run whose reported outcome reconciliation changed, as /notify allows."""
    services = application.bot_data["services"]
    sent = 0
    for result in await services.history.revisions():
        try:
            account = await services.accounts.get(result.user_id)
        except NotConfigured:
            continue
        text = None
        if not account.blocked_bot:
            with use_locale(account.language):
                if notifications.result_message(result, account.notify_level) is not None:
                    text = notifications.revision_text(result, account.timezone)
        if text is not None:
            try:
                await application.bot.send_message(account.telegram_id, text)
                sent += 1
            except Forbidden:
                await services.accounts.mark_blocked(result.user_id, True)
            except TelegramError:
                log.warning(
                    "user %s: revision of run %s not delivered", result.user_id, result.run_id
                )
                continue
        await services.history.mark_revision_notified(result.user_id, result.run_id)
    return sent


async def _pause(
    context: BotContext,
    data: JobData,
    level: str,
    *,
    reason: str,
    result: RunResult | None = None,
) -> None:
    """Stop this user's automation and say why; the key or settings need the user first."""
    cancel_job(context.application, data.user_id)
    await context.services.accounts.set_schedule(
        data.user_id, running=False, paused_reason=reason, clear_next=True
    )
    text = notifications.paused(reason, result)
    await _send(context, data, text, result, can_pause=False)


def buttons_for(application: BotApplication, chat_id: int) -> ButtonFactory:
    """Signed buttons for a message the bot sends on its own (no update to answer)."""
    signer = application.bot_data["signer"]
    return lambda text, action, payload: signer.button(text, chat_id, action, payload)


def quiet_key(result: RunResult) -> str:
    """What a "no rebalance needed" push is about: a new one goes out when this changes."""
    targets = ",".join(f"{a}:{w}" for a, w in sorted(result.targets.items()))
    return f"{result.dry_run}|{result.threshold}|{targets}"


async def notify(context: BotContext, data: JobData, level: str, result: RunResult) -> None:
    text = notifications.result_message(result, level)
    if text is not None and notifications.is_quiet(result):
        due = await context.services.history.quiet_report_due(data.user_id, quiet_key(result))
        text = text if due else None
    if text is None:
        await context.services.rebalancer.mark_notified(data.user_id, result)
        return
    await _send(context, data, text, result)


async def _send(
    context: BotContext,
    data: JobData,
    text: str,
    result: RunResult | None,
    *,
    can_pause: bool = True,
) -> None:
    keyboard = (
        None
        if result is None
        else notifications.run_keyboard(
            result, buttons_for(context.application, data.chat_id), can_pause=can_pause
        )
    )
    try:
        await context.bot.send_message(data.chat_id, text, reply_markup=keyboard)
    except Forbidden:
        log.info("user %s blocked the bot; marked, no more messages", data.user_id)
        await context.services.accounts.mark_blocked(data.user_id, True)
        return
    except TelegramError as error:
        if not maybe_delivered(error):  # left unsent: it goes out after the next start
            log.warning("user %s: notification not delivered", data.user_id, exc_info=True)
            return
        log.warning("user %s: notification maybe delivered; not resent", data.user_id)
    if result is not None:
        await context.services.rebalancer.mark_notified(data.user_id, result)

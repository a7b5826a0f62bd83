"""The per-user scheduled job: glue between PTB's JobQueue, the services and the views."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram import InlineKeyboardButton
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import Application, Job

from bot.db.models import RunTrigger
from bot.db.types import utcnow
from bot.delivery import not_delivered
from bot.errors import NotConfigured, ShuttingDown
from bot.i18n import _, use_locale
from bot.scheduling import Cadence, CadenceTrigger
from bot.services.run_handler import AUTH_PAUSE, Handled, Kind
from bot.services.run_result import Problem, RunResult
from bot.views import notifications

if TYPE_CHECKING:
    from bot.handlers.base import BotContext
    from bot.views.start import ButtonFactory

BotApplication = Application[Any, Any, Any, Any, Any, Any]

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 3600  # a run missed by less than this still happens (coalesced into one)
MAX_JITTER_SECONDS = 30.0
RECONCILE_JOB = "reconcile"
__all__ = ["AUTH_PAUSE"]  # handlers ask jobs whether a pause was the key's


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
    timezone: str = "UTC",
    anchor: datetime | None = None,
) -> Job[Any]:
    """(Re)create the user's one job: at `first`, then at every nominal time of the cadence
    from `anchor` (default `first`), each with its own jitter."""
    assert application.job_queue is not None  # noqa: S101
    cadence = Cadence(anchor or first, interval_seconds, timezone)
    # The job's id is its name, so replacing it is one keyed store write even with 10,000 jobs.
    return application.job_queue.run_custom(
        run_scheduled,
        name=job_name(user_id),
        data=JobData(user_id=user_id, chat_id=chat_id),
        job_kwargs={
            "trigger": CadenceTrigger(
                cadence, _jitter(interval_seconds), None if anchor is None else first
            ),
            "coalesce": True,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
            "max_instances": 1,
            "id": job_name(user_id),
            "replace_existing": True,
        },
    )


def nominal_next(job: Job[Any], after: datetime) -> datetime | None:
    """The job's next nominal run time after `after` (what the user is shown and the database
    keeps: a restart re-anchors on it, so it must carry no jitter)."""
    trigger = job.job.trigger
    if isinstance(trigger, CadenceTrigger):
        return trigger.cadence.next_after(after)
    return job.next_t


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
        first = anchor = schedule.next_run_at
        if first is None or first <= now:
            # Missed while we were down: one run soon, spread out, not one per missed interval;
            # the runs after it keep the stored nominal times (a daily 09:00 stays 09:00).
            spread = min(60.0, float(schedule.interval_seconds))
            first = now + timedelta(seconds=random.uniform(0.5, max(spread, 0.5)))  # noqa: S311
        schedule_job(
            application,
            user_id=schedule.user_id,
            chat_id=schedule.chat_id,
            interval_seconds=schedule.interval_seconds,
            first=first,
            timezone=schedule.timezone,
            anchor=anchor,
        )
    return restored


async def send_unreported(application: BotApplication) -> int:
    """Report runs whose message a crash prevented (or, distributed, whose results stream
    entry Redis lost), once: deliver skips a run reported meanwhile."""
    services = application.bot_data["services"]
    sent = 0
    for result in await services.history.unreported():
        owed = Handled(Kind.RESULT, result.user_id, trigger=result.trigger, run_id=result.run_id)
        if await deliver(application, owed, owed=True):
            sent += 1
    return sent


def scheduled_slot(due: datetime) -> str:
    """A scheduled run's slot: the fire time it was due at, as the database has it, so a
    second scheduler (after a takeover) enqueues the same slot, not a second run."""
    return "s" + due.strftime("%Y%m%dT%H%M%S")


async def run_scheduled(context: BotContext) -> None:
    """One scheduled run for one user, reported per their /notify choice; in distributed
    mode, handed to the user's shard queue instead (a worker runs it, jobs.deliver reports)."""
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
    # The schedule is written when the job fires, never after the run: a /next or /interval
    # sent while the run is under way is the user's last word and must stay.
    due = account.next_run_at or utcnow()
    next_at = nominal_next(job, utcnow())
    active = account.is_running and not account.blocked_bot
    if services.queue is not None:
        # Distributed: a worker of the user's shard runs it. Enqueued before the schedule
        # moves on, so a scheduler dying in between leaves the slot due, and the one taking
        # over enqueues the same slot (refused as a duplicate) rather than losing it.
        if active:
            await services.queue.enqueue(data.user_id, RunTrigger.AUTO, scheduled_slot(due))
        await services.accounts.set_schedule(data.user_id, next_run_at=next_at)
        return
    await services.accounts.set_schedule(data.user_id, next_run_at=next_at)
    if not active:
        return
    with use_locale(account.language):
        try:
            handled = await services.runs.handle(data.user_id, RunTrigger.AUTO.value)
        except ShuttingDown:
            # Nothing was recorded or sent: the run stays due, so the next start runs it.
            await services.accounts.set_schedule(data.user_id, next_run_at=due)
            log.info("user %s: scheduled run let go, the bot is stopping", data.user_id)
            return
    await deliver(context.application, handled)


async def deliver(application: BotApplication, handled: Handled, *, owed: bool = False) -> bool:
    """Tell the user what a run did (or why automation stopped), once: a run already
    reported is not reported again, even when two paths (the results stream and the
    start-up catch-up) hold it at once. False when Telegram did not take the message (the
    report stays owed and goes out later). `owed`: a report a crash held back, told as
    the user's /notify level allows whatever started the run."""
    if handled.run_id is None or handled.result is not None:
        return await _deliver(application, handled, owed)
    # One delivery of a run at a time in this process; the second finds it reported.
    delivering: dict[int, list[Any]] = application.bot_data.setdefault("delivering", {})
    entry = delivering.setdefault(handled.run_id, [asyncio.Lock(), 0])
    entry[1] += 1
    try:
        async with entry[0]:
            return await _deliver(application, handled, owed)
    finally:
        entry[1] -= 1
        if not entry[1]:
            delivering.pop(handled.run_id, None)


async def _deliver(application: BotApplication, handled: Handled, owed: bool) -> bool:
    services = application.bot_data["services"]
    if handled.kind == Kind.NOTHING:
        return True
    if handled.kind == Kind.NOT_ALLOWED:
        try:
            account = await services.accounts.get(handled.user_id)
        except NotConfigured:
            return True
        await stop_not_allowed(application, handled.user_id, account.telegram_id)
        return True
    if handled.kind == Kind.PAUSED:
        cancel_job(application, handled.user_id)
    found = await _owed(services, handled)
    if found is None:
        return True
    account, result = found
    with use_locale(account.language):
        if owed and result is not None:
            text = notifications.result_message(result, account.notify_level)
            keyboard = notifications.run_keyboard(
                result, buttons_for(application, account.telegram_id)
            )
        else:
            text, keyboard = _delivery(application, handled, result, account)
    if text is not None and await _held_quiet(services, handled, result):
        text = None
    if text is None:
        if result is not None:
            await services.rebalancer.mark_notified(handled.user_id, result)
        return True
    if not await _send(application, handled, account.telegram_id, text, keyboard):
        return False
    if result is not None:
        await services.rebalancer.mark_notified(handled.user_id, result)
    return True


async def _held_quiet(services: Any, handled: Handled, result: RunResult | None) -> bool:
    """A scheduled "no rebalance needed" push goes out once a day, unless something changed."""
    if result is None or handled.kind != Kind.RESULT or not notifications.is_quiet(result):
        return False
    if result.trigger == RunTrigger.MANUAL.value:
        return False
    return not await services.history.quiet_report_due(handled.user_id, quiet_key(result))


async def _owed(services: Any, handled: Handled) -> tuple[Any, RunResult | None] | None:
    """The account and run a delivery is about, or None when nothing is owed (the account
    is gone or has blocked the bot, or the run was reported already)."""
    try:
        account = await services.accounts.get(handled.user_id)
    except NotConfigured:
        return None
    result = handled.result
    if result is None and handled.run_id is not None:
        result, reported = await services.history.run_result(handled.user_id, handled.run_id)
        if reported:
            return None
    return None if account.blocked_bot else (account, result)


def _delivery(
    application: BotApplication, handled: Handled, result: RunResult | None, account: Any
) -> tuple[str | None, Any]:
    from bot.views import rebalance as preview_views

    buttons = buttons_for(application, account.telegram_id)
    if handled.kind == Kind.PAUSED:
        text = notifications.paused(handled.reason or "errors", result)
        keyboard = (
            None if result is None else notifications.run_keyboard(result, buttons, can_pause=False)
        )
        return text, keyboard
    if handled.kind in (Kind.BUSY, Kind.ERROR):
        return _(handled.message or "").format(**handled.params), None
    if result is None:
        return None, None
    if handled.trigger != RunTrigger.MANUAL.value:
        report = notifications.result_message(result, account.notify_level)
        return report, notifications.run_keyboard(result, buttons)
    fresh = result.fresh_preview
    if result.problem == Problem.MARKET_MOVED and fresh is not None:
        text = preview_views.preview_changed() + "\n\n" + preview_views.preview_text(fresh)
        if not fresh.legs or fresh.preview_id is None:
            return text, None
        return text, preview_views.confirm_keyboard(buttons, str(fresh.preview_id))
    return notifications.result_text(result), notifications.run_keyboard(result, buttons)


async def _send(
    application: BotApplication, handled: Handled, chat_id: int, text: str, keyboard: Any
) -> bool:
    services = application.bot_data["services"]
    try:
        await application.bot.send_message(chat_id, text, reply_markup=keyboard)
    except Forbidden:
        log.info("user %s blocked the bot; marked, no more messages", handled.user_id)
        await services.accounts.mark_blocked(handled.user_id, True)
        return True
    except TelegramError as error:
        if not maybe_delivered(error):  # left owed: it goes out later
            log.warning("user %s: notification not delivered", handled.user_id, exc_info=True)
            return False
        log.warning("user %s: notification maybe delivered; not resent", handled.user_id)
    return True


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
    if context.services.queue is None:  # distributed: the workers reconcile, by shard
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


def buttons_for(application: BotApplication, chat_id: int) -> ButtonFactory:
    """Signed buttons for a message the bot sends on its own (no update to answer)."""
    signer = application.bot_data["signer"]

    def button(text: object, action: str, payload: str = "") -> InlineKeyboardButton:
        return signer.button(str(text), chat_id, action, payload)

    return button


def quiet_key(result: RunResult) -> str:
    """What a "no rebalance needed" push is about: a new one goes out when this changes."""
    targets = ",".join(f"{a}:{w}" for a, w in sorted(result.targets.items()))
    return f"{result.dry_run}|{result.threshold}|{targets}"

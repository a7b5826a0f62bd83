"""/admin: usage numbers, the kill switch for every user's automation, and erasing a user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import jobs
from bot.db.types import utcnow
from bot.handlers.base import BotContext, handles_user_errors, reply
from bot.views import admin as views

ADMIN_PAUSE_REASON = "admin"


@handles_user_errors
async def admin_command(update: Update, context: BotContext) -> None:
    """Operators only: usage numbers and the kill switch for every user's automation."""
    user = update.effective_user
    if user is None or user.id not in context.services.settings.admin_ids:
        await reply(update, views.admin_only())
        return
    arg = (context.args or [""])[0].lower() if context.args else ""
    accounts = context.services.accounts
    if arg == "remove":
        await _remove(update, context, (context.args or [])[1:])
        return
    if arg == "pause":
        await context.services.kill_switch.set(True)  # first: no order leaves from now on
        paused = await accounts.pause_all(ADMIN_PAUSE_REASON)
        for user_id in paused:
            jobs.cancel_job(context.application, user_id)
        await reply(update, views.admin_paused(len(paused)))
        return
    if arg == "resume":
        resumed = await accounts.resume_paused(ADMIN_PAUSE_REASON)
        for schedule in resumed:
            first = utcnow() + timedelta(seconds=min(60, schedule.interval_seconds))
            jobs.schedule_job(
                context.application,
                user_id=schedule.user_id,
                chat_id=schedule.chat_id,
                interval_seconds=schedule.interval_seconds,
                first=first,
                timezone=schedule.timezone,
            )
            await accounts.set_schedule(schedule.user_id, next_run_at=first)
        await context.services.kill_switch.set(False)
        await reply(update, views.admin_resumed(len(resumed)))
        return
    stats = await context.services.history.stats()
    await reply(update, views.admin_stats(stats, await context.services.kill_switch.is_on()))


async def _remove(update: Update, context: BotContext, args: list[str]) -> None:
    """`/admin remove <telegram user id>`: the user's keys and pooled client first, then their
    job, then every record."""
    if len(args) != 1 or not args[0].isdecimal() or len(args[0]) > 20:
        await reply(update, views.admin_remove_usage())
        return
    telegram_id = int(args[0])
    services = context.services
    account = await services.accounts.find(telegram_id)
    if account is None:
        await reply(update, views.admin_no_such_user(telegram_id))
        return
    await services.erasure.delete_keys(account.user_id)
    jobs.cancel_job(context.application, account.user_id)
    await services.erasure.delete_user(account.user_id)
    context.application.chat_data.get(telegram_id, {}).clear()  # an open dialog with a key
    await reply(update, views.admin_removed(telegram_id, had_keys=account.has_keys))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("admin", admin_command))

"""/dryrun, /notify, /settings and /deleteme."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import jobs
from bot.db.models import NotifyLevel
from bot.db.types import utcnow
from bot.handlers import dialogs
from bot.handlers.base import (
    BotContext,
    answer,
    confirmed,
    edit,
    expired_button,
    handles_user_errors,
    reply,
)
from bot.views import settings as views
from bot.views import start as start_views
from bot.views import status as status_views
from bot.views import targets as target_views


@handles_user_errors
async def dryrun_command(update: Update, context: BotContext) -> None:
    """Show the mode; `on` simulates at once, `off` (live) asks for confirmation first."""
    account = context.require_account()
    arg = (context.args or [""])[0].lower() if context.args else ""
    if not arg:
        await reply(update, views.dryrun_text(account))
    elif arg in ("on", "yes", "true", "1"):
        await context.services.accounts.set_dry_run(account.user_id, True)
        await reply(update, views.dryrun_on())
    elif arg in ("off", "no", "false", "0", "live"):
        await reply(update, views.live_confirm(), views.live_keyboard(context.button))
    else:
        await reply(update, views.dryrun_usage())


@handles_user_errors
async def live_confirmed(update: Update, context: BotContext) -> None:
    account = await confirmed(update, context)
    if account is None:
        return
    account = await context.services.accounts.set_dry_run(account.user_id, False)
    await edit(update, views.live_on(account, utcnow()))


@handles_user_errors
async def notify_command(update: Update, context: BotContext) -> None:
    """Show the notification level with buttons, or set it from the argument."""
    account = context.require_account()
    arg = (context.args or [""])[0].lower() if context.args else ""
    if not arg:
        await reply(update, views.notify_text(account), views.notify_keyboard(context.button))
        return
    if arg not in {level.value for level in NotifyLevel}:
        await reply(update, views.notify_usage())
        return
    account = await context.services.accounts.set_notify(account.user_id, arg)
    await reply(update, views.notify_set(account))


@handles_user_errors
async def notify_chosen(update: Update, context: BotContext) -> None:
    account = context.require_account()
    _action, level = context.callback or ("", "")
    if level not in {item.value for item in NotifyLevel}:
        await expired_button(update, context)
        return
    account = await context.services.accounts.set_notify(account.user_id, level)
    await answer(update)
    await edit(update, views.notify_set(account))


@handles_user_errors
async def settings_command(update: Update, context: BotContext) -> None:
    """Every setting in one menu."""
    account = context.require_account()
    await reply(update, views.settings_text(account), views.settings_keyboard(context.button))


@handles_user_errors
async def settings_chosen(update: Update, context: BotContext) -> None:
    """A settings menu button opens that setting's own dialog."""
    account = context.require_account()
    _action, which = context.callback or ("", "")
    await answer(update)
    if which == "interval":
        await reply(
            update,
            status_views.interval_prompt(account),
            status_views.interval_keyboard(context.button),
        )
    elif which == "threshold":
        await reply(update, target_views.threshold_text(account))
    elif which == "mintrade":
        minimum = await context.services.min_trade.exchange_minimum(account)
        await reply(update, target_views.min_trade_text(account, minimum))
    elif which == "dryrun":
        keyboard = None if not account.dry_run else views.live_keyboard(context.button)
        text = views.dryrun_text(account) if not account.dry_run else views.live_confirm()
        await reply(update, text, keyboard)
    elif which == "notify":
        await reply(update, views.notify_text(account), views.notify_keyboard(context.button))
    elif which == "language":
        await reply(
            update, start_views.language_prompt(), start_views.language_keyboard(context.button)
        )
    elif which == "timezone":
        await reply(update, status_views.timezone_text(account))
    else:
        await expired_button(update, context)


@handles_user_errors
async def deleteme_command(update: Update, context: BotContext) -> None:
    context.require_account()
    await reply(update, views.deleteme_confirm(), views.deleteme_keyboard(context.button))


@handles_user_errors
async def deleteme_confirmed(update: Update, context: BotContext) -> None:
    account = await confirmed(update, context)
    if account is None:
        return
    jobs.cancel_job(context.application, account.user_id)
    dialogs.end(context)
    await context.services.erasure.delete_user(account.user_id)
    context.account = None
    await edit(update, views.deleted_everything())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("dryrun", dryrun_command))
    application.add_handler(CallbackQueryHandler(live_confirmed, pattern=r"^live\|"))
    application.add_handler(CommandHandler("notify", notify_command))
    application.add_handler(CallbackQueryHandler(notify_chosen, pattern=r"^notify\|"))
    application.add_handler(CommandHandler("settings", settings_command))
    application.add_handler(CallbackQueryHandler(settings_chosen, pattern=r"^set\|"))
    application.add_handler(CommandHandler("deleteme", deleteme_command))
    application.add_handler(CallbackQueryHandler(deleteme_confirmed, pattern=r"^delme\|"))

"""/run, /stop, /status, /interval, /next and /timezone: when automatic rebalancing happens."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import jobs
from bot.db.types import utcnow
from bot.domain.parsing import check_interval, parse_interval, parse_next_time, parse_timezone
from bot.errors import ValidationError
from bot.handlers.base import BotContext, answer, edit, handles_user_errors, reply
from bot.services.accounts import Account
from bot.services.keys import TooManyKeyChecks
from bot.services.kill_switch import halted
from bot.views import keys as key_views
from bot.views import status as views

FIRST_RUN_DELAY = timedelta(seconds=60)


def _args_text(context: BotContext) -> str:
    return " ".join(context.args or []).strip()


async def _reschedule(context: BotContext, account: Account, first: Any = None) -> Account:
    """Put the user's job where the database says; the database stays the source of truth."""
    interval = timedelta(seconds=account.interval_seconds)
    if first is None:
        first = utcnow() + min(FIRST_RUN_DELAY, interval)
    jobs.schedule_job(
        context.application,
        user_id=account.user_id,
        chat_id=account.telegram_id,
        interval_seconds=account.interval_seconds,
        first=first,
        timezone=account.timezone,
    )
    return await context.services.accounts.set_schedule(
        account.user_id, running=True, next_run_at=first
    )


async def _start(context: BotContext, account: Account) -> str:
    """Turn automation on, or say why not: the one path of /run and "also start?" Yes."""
    if await context.services.kill_switch.is_on():
        raise halted()
    if not account.has_keys or not account.strategy.is_set:
        return views.missing_for_run(account.has_keys, account.strategy.is_set)
    if account.paused_reason == jobs.AUTH_PAUSE:
        # The bot paused this key as broken: it must prove it works before anything re-arms.
        try:
            works = await context.services.keys.recheck(account.user_id)
        except TooManyKeyChecks as error:
            return key_views.too_many_checks(max(1, math.ceil(error.retry_after / 60)))
        if not works:
            return views.key_still_fails()
    first = account.next_run_at if account.next_run_at and account.next_run_at > utcnow() else None
    account = await _reschedule(context, account, first)
    return views.started(account, utcnow())


@handles_user_errors
async def run_command(update: Update, context: BotContext) -> None:
    """Start automatic rebalancing (needs keys and targets; refused while trading is halted)."""
    account = context.require_account()
    await reply(update, await _start(context, account))


@handles_user_errors
async def start_too_chosen(update: Update, context: BotContext) -> None:
    """The answer to "also start automatic rebalancing?" after /next with automation off."""
    account = context.require_account()
    _action, choice = context.callback or ("", "")
    await answer(update)
    if choice != "yes":
        await edit(update, views.left_off())
        return
    await edit(update, await _start(context, account))


@handles_user_errors
async def stop_command(update: Update, context: BotContext) -> None:
    """Stop automatic rebalancing for this user only."""
    await _stop(update, context)


@handles_user_errors
async def pause_pressed(update: Update, context: BotContext) -> None:
    """[Pause auto] under a report: the same as /stop."""
    await answer(update)
    await _stop(update, context)


async def _stop(update: Update, context: BotContext) -> None:
    account = context.require_account()
    if not account.is_running:
        await reply(update, views.already_stopped())
        return
    jobs.cancel_job(context.application, account.user_id)
    await context.services.accounts.set_schedule(account.user_id, running=False, clear_next=True)
    await reply(update, views.stopped())


@handles_user_errors
async def status_command(update: Update, context: BotContext) -> None:
    """The home screen: mode and automation, value, largest drift, last run."""
    await home_screen(update, context, context.require_account())


async def home_screen(
    update: Update,
    context: BotContext,
    account: Account,
    keyboard: InlineKeyboardMarkup | None = None,
) -> None:
    """Value and drift read now (shared prices, the user's budget) or, if the exchange is slow,
    the last known ones with their time."""
    async with context.progress(update) as progress:
        home = await context.services.home.numbers(
            account.user_id, dry_run=account.dry_run, quote=account.strategy.quote
        )
        await progress.answer(views.status_text(account, home), keyboard)


async def apply_interval(context: BotContext, account: Account, seconds: int) -> Account:
    account = await context.services.accounts.set_interval(account.user_id, seconds)
    if account.is_running:
        account = await _reschedule(context, account, utcnow() + timedelta(seconds=seconds))
    return account


@handles_user_errors
async def interval_command(update: Update, context: BotContext) -> None:
    """Show the interval with buttons, or set it from the argument (`6h`, `90m`, `2d`)."""
    account = context.require_account()
    text = _args_text(context)
    if not text:
        await reply(update, views.interval_prompt(account), views.interval_keyboard(context.button))
        return
    interval = check_interval(
        parse_interval(text), min_seconds=context.services.settings.min_interval_seconds
    )
    account = await apply_interval(context, account, int(interval.total_seconds()))
    await reply(update, views.interval_set(account))


@handles_user_errors
async def interval_chosen(update: Update, context: BotContext) -> None:
    """A preset interval button."""
    account = context.require_account()
    _action, payload = context.callback or ("", "")
    if not payload.isdecimal():
        raise ValidationError("Choose an interval, e.g. /interval 4h")
    seconds = int(
        check_interval(
            timedelta(seconds=int(payload)),
            min_seconds=context.services.settings.min_interval_seconds,
        ).total_seconds()
    )
    account = await apply_interval(context, account, seconds)
    await answer(update)
    await edit(update, views.interval_set(account))


@handles_user_errors
async def next_command(update: Update, context: BotContext) -> None:
    """Show or set the next run: `/next 09:00` or `/next 2026-12-01 09:00` in the user's
    timezone. Setting a time never starts automation: with it off, the user is asked."""
    account = context.require_account()
    text = _args_text(context)
    if not text:
        await reply(update, views.next_text(account))
        return
    when = parse_next_time(text, utcnow(), parse_timezone(account.timezone))
    if account.is_running:
        account = await _reschedule(context, account, when)
        await reply(update, views.next_set(account))
        return
    account = await context.services.accounts.set_schedule(account.user_id, next_run_at=when)
    if not account.has_keys or not account.strategy.is_set:
        missing = views.missing_for_run(account.has_keys, account.strategy.is_set)
        await reply(update, views.next_set(account) + "\n" + missing)
        return
    await reply(update, views.start_too_prompt(account), views.start_too_keyboard(context.button))


@handles_user_errors
async def timezone_command(update: Update, context: BotContext) -> None:
    """Show or set the timezone used to show and read times (IANA names)."""
    account = context.require_account()
    text = _args_text(context)
    if not text:
        await reply(update, views.timezone_text(account))
        return
    zone = parse_timezone(text)
    account = await context.services.accounts.set_timezone(account.user_id, zone.key)
    if account.is_running and account.next_run_at and account.next_run_at > utcnow():
        # Daily and weekly runs keep their local time of day: in the new zone from now on.
        account = await _reschedule(context, account, account.next_run_at)
    await reply(update, views.timezone_set(account))


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("run", run_command))
    application.add_handler(CommandHandler("stop", stop_command))
    application.add_handler(CallbackQueryHandler(pause_pressed, pattern=r"^pause\|"))
    application.add_handler(CommandHandler("status", status_command))
    application.add_handler(CommandHandler("interval", interval_command))
    application.add_handler(CallbackQueryHandler(interval_chosen, pattern=r"^interval\|"))
    application.add_handler(CommandHandler("next", next_command))
    application.add_handler(CallbackQueryHandler(start_too_chosen, pattern=r"^autoon\|"))
    application.add_handler(CommandHandler("timezone", timezone_command))

"""/dryrun, /notify, /settings and /deleteme."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import jobs
from bot.db.models import NotifyLevel
from bot.db.types import utcnow
from bot.domain.parsing import (
    check_interval,
    guess_timezone,
    parse_amount,
    parse_percent,
    parse_timezone,
)
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
from bot.handlers.menu import switch_language
from bot.handlers.schedule import apply_interval
from bot.services.accounts import Account
from bot.services.min_trade import BelowExchangeMinimum
from bot.views import common
from bot.views import settings as views
from bot.views import start as start_views
from bot.views import status as status_views
from bot.views import targets as target_views

SETTINGS_SUFFIX = ".set"  # on a live-trading confirmation opened from /settings


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
    """Yes switches to live trading; from /settings either answer goes back to the summary."""
    account = context.require_account()
    _action, choice = context.callback or ("", "")
    from_settings = choice.endswith(SETTINGS_SUFFIX)
    choice = choice.removesuffix(SETTINGS_SUFFIX)
    await answer(update)
    if choice == "yes":
        account = await context.services.accounts.set_dry_run(account.user_id, False)
    if from_settings:
        changed = views.live_on(account, utcnow()) if choice == "yes" else common.cancelled()
        await _show_summary(update, context, account, changed)
    elif choice == "yes":
        await edit(update, views.live_on(account, utcnow()))
    else:
        await edit(update, common.cancelled())


@handles_user_errors
async def notify_command(update: Update, context: BotContext) -> None:
    """Show the notification level with buttons, or set it from the argument."""
    account = context.require_account()
    arg = (context.args or [""])[0].lower() if context.args else ""
    if not arg:
        await reply(
            update,
            views.notify_text(account),
            views.notify_keyboard(context.button, account.notify_level),
        )
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
    """Every setting in one message; its buttons change that message in place."""
    account = context.require_account()
    await reply(update, views.settings_text(account), views.settings_keyboard(context.button))


async def _show_summary(
    update: Update, context: BotContext, account: Account, changed: str = ""
) -> None:
    await edit(
        update, views.settings_text(account, changed), views.settings_keyboard(context.button)
    )


def _timezone_guess(update: Update) -> str | None:
    user = update.effective_user
    return guess_timezone(user.language_code if user else None)


def _choices(
    update: Update, context: BotContext, account: Account, which: str
) -> tuple[str, InlineKeyboardMarkup] | None:
    """The text and buttons of one setting's choices, the current value marked."""
    button = context.button
    if which == "interval":
        return status_views.interval_prompt(account), views.interval_choices(account, button)
    if which == "threshold":
        return target_views.threshold_text(account), views.threshold_choices(account, button)
    if which == "dryrun":
        return views.dryrun_prompt(account), views.dryrun_choices(account, button)
    if which == "notify":
        return views.notify_text(account), views.notify_choices(account, button)
    if which == "language":
        return start_views.language_prompt(), views.language_choices(account, button)
    if which == "timezone":
        guess = _timezone_guess(update)
        return views.timezone_prompt(account), views.timezone_choices(account, button, guess)
    return None


@handles_user_errors
async def settings_chosen(update: Update, context: BotContext) -> None:
    """A summary button opens that setting's choices in the same message; « Back returns."""
    account = context.require_account()
    _action, which = context.callback or ("", "")
    if which == "home":
        await answer(update)
        await _show_summary(update, context, account)
        return
    if which == "mintrade":  # bounded by the exchange's minimum, which it has to look up
        await answer(update)
        minimum = await context.services.min_trade.exchange_minimum(account)
        keyboard = views.mintrade_choices(account, context.button, minimum)
        await edit(update, target_views.min_trade_text(account, minimum), keyboard)
        return
    choices = _choices(update, context, account, which)
    if choices is None:
        await expired_button(update, context)
        return
    await answer(update)
    await edit(update, *choices)


async def _set_value(
    update: Update, context: BotContext, account: Account, which: str, value: str
) -> tuple[Account, str] | None:
    """Apply one choice: the account after it and the confirmation; None for a bad value."""
    accounts = context.services.accounts
    if which == "interval" and value.isdecimal():
        seconds = int(
            check_interval(
                timedelta(seconds=int(value)),
                min_seconds=context.services.settings.min_interval_seconds,
            ).total_seconds()
        )
        account = await apply_interval(context, account, seconds)
        return account, status_views.interval_set(account)
    if which == "threshold":
        account = await accounts.set_threshold(account.user_id, parse_percent(value))
        return account, target_views.threshold_set(account)
    if which == "notify" and value in {level.value for level in NotifyLevel}:
        account = await accounts.set_notify(account.user_id, value)
        return account, views.notify_set(account)
    if which == "lang" and value in start_views.LANGUAGE_NAMES:
        account = await switch_language(context, account, value)
        return account, start_views.language_changed()
    if which == "tz":
        account = await accounts.set_timezone(account.user_id, parse_timezone(value).key)
        return account, status_views.timezone_set(account)
    if which == "dryrun" and value == "on":
        account = await accounts.set_dry_run(account.user_id, True)
        return account, views.dryrun_on()
    if which == "mintrade":
        amount = parse_amount(value)
        try:
            account = await context.services.min_trade.change(account, amount)
        except BelowExchangeMinimum as error:
            return account, target_views.min_trade_below(account, amount, error.minimum)
        return account, target_views.min_trade_set(account)
    return None


@handles_user_errors
async def setting_value_chosen(update: Update, context: BotContext) -> None:
    """A choice: store it and redraw the summary with the new value and what changed."""
    account = context.require_account()
    _action, payload = context.callback or ("", "")
    which, _sep, value = payload.partition(":")
    if which == "dryrun" and value == "live":
        await answer(update)
        if not account.dry_run:
            await _show_summary(update, context, account)
            return
        await edit(update, views.live_confirm(), views.live_keyboard_from_settings(context.button))
        return
    result = await _set_value(update, context, account, which, value)
    if result is None:
        await expired_button(update, context)
        return
    account, changed = result
    await answer(update)
    await _show_summary(update, context, account, changed)


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
    application.add_handler(CallbackQueryHandler(setting_value_chosen, pattern=r"^setv\|"))
    application.add_handler(CommandHandler("deleteme", deleteme_command))
    application.add_handler(CallbackQueryHandler(deleteme_confirmed, pattern=r"^delme\|"))

"""/start, /help, /language, the main menu buttons, the command menus, and the catch-alls."""

from __future__ import annotations

from typing import Any

from telegram import BotCommand, BotCommandScopeChat, Update
from telegram.error import TelegramError
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.handlers.base import (
    BotContext,
    answer,
    edit,
    expired_button,
    handles_user_errors,
    replies_in_place,
    reply,
)
from bot.handlers.schedule import home_screen
from bot.i18n import _, language_from_telegram, set_locale
from bot.services.accounts import Account
from bot.views import common, start
from bot.views.start import LANGUAGE_NAMES


async def register_command_menus(bot: Any) -> None:
    """The menu in English by default and in Ukrainian for Ukrainian Telegram clients."""
    await bot.set_my_commands(_commands("en"))
    await bot.set_my_commands(_commands("uk"), language_code="uk")


def _commands(language: str) -> list[BotCommand]:
    return [BotCommand(name, text) for name, text in common.command_menu(language)]


@handles_user_errors
async def start_command(update: Update, context: BotContext) -> None:
    """Register the chat (or greet again) and show the main menu."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    language = language_from_telegram(user.language_code)
    account, created = await context.services.accounts.register(chat.id, language=language)
    set_locale(account.language)
    context.account = account
    menu = start.main_menu(account, context.button)
    if created or not account.strategy.is_set or not (account.has_keys or account.dry_run):
        await reply(update, start.welcome(account, created), menu)
        return
    await home_screen(update, context, account, menu)  # set up: the home screen, and the menu


@handles_user_errors
async def help_command(update: Update, _context: BotContext) -> None:
    """List every command with one line each."""
    await reply(update, common.help_text())


@handles_user_errors
async def language_command(update: Update, context: BotContext) -> None:
    """Offer the two languages as buttons."""
    context.require_account()
    await reply(update, start.language_prompt(), start.language_keyboard(context.button))


@handles_user_errors
async def language_chosen(update: Update, context: BotContext) -> None:
    """Switch the language at once, including this chat's command menu."""
    account = context.require_account()
    _action, code = context.callback or ("", "")
    if code not in LANGUAGE_NAMES:
        await expired_button(update, context)
        return
    await switch_language(context, account, code)
    await answer(update)
    await edit(update, start.language_changed())


async def switch_language(context: BotContext, account: Account, code: str) -> Account:
    """Store the language, speak it from this reply on, and localize this chat's command menu."""
    account = await context.services.accounts.set_language(account.user_id, code)
    set_locale(code)
    context.account = account
    try:
        await context.bot.set_my_commands(
            _commands(code), scope=BotCommandScopeChat(account.telegram_id)
        )
    except TelegramError:  # the menu is a convenience; the language switch already happened
        pass
    return account


@handles_user_errors
async def menu_pressed(update: Update, context: BotContext) -> None:
    """A main-menu button does what its command does."""
    from bot.handlers import history, keys, rebalance, settings

    _action, target = context.callback or ("", "")
    await answer(update)
    if target == "home":
        account = context.require_account()
        await edit(update, start.welcome(account, False), start.main_menu(account, context.button))
        return
    actions = {
        "portfolio": rebalance.portfolio_command,
        "rebalance": rebalance.rebalance_command,
        "settings": settings.settings_command,
        "history": history.history_command,
        "help": help_command,
        "keys": keys.keys_command,
    }
    action = actions.get(target)
    if action is None:
        await expired_button(update, context)
        return
    with replies_in_place(context.button(_("« Menu"), "menu", "home")):
        await action(update, context)


MAX_COMMAND_CHARS = 32  # Telegram's own limit for a command name


async def unknown_input(update: Update, _context: BotContext) -> None:
    """Anything no handler took: an unknown command gets the closest real one, the rest /help."""
    message = update.message
    text = (message.text or "") if message is not None else ""
    if text.startswith("/") and len(text) > 1:
        command = text.split(maxsplit=1)[0][1:].split("@", 1)[0][:MAX_COMMAND_CHARS]
        if command:
            await reply(update, common.unknown_command(command, common.closest_command(command)))
            return
    await reply(update, common.not_understood())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("start", start_command))
    application.add_handler(CommandHandler("help", help_command))
    application.add_handler(CommandHandler("language", language_command))
    application.add_handler(CallbackQueryHandler(language_chosen, pattern=r"^lang\|"))
    application.add_handler(CallbackQueryHandler(menu_pressed, pattern=r"^menu\|"))


def register_fallbacks(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Registered last in group 0: only updates nothing else took reach these."""
    application.add_handler(CallbackQueryHandler(expired_button))
    application.add_handler(MessageHandler(filters.ALL, unknown_input))

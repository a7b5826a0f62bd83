"""The gates every update passes before a handler: whose message it is, edits, the private-chat
rule, the allow-list, the rate limit, input size, the account and its locale, signed buttons."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    TypeHandler,
)

from bot.handlers import dialogs, pasted_keys
from bot.handlers.base import (
    MAX_INPUT_CHARS,
    BotContext,
    _answer_quietly,
    new_update_started,
    reply,
)
from bot.handlers.updates import throttled_for
from bot.i18n import _, language_from_telegram, set_locale
from bot.views import common

SCREEN_GROUP = -30
GATE_GROUP = -20
LOCALE_GROUP = -10
CALLBACK_GROUP = -5

# What a user taken off ALLOWED_USER_IDS may still do: stop, and take their data away.
UNLISTED_COMMANDS = frozenset({"stop", "deletekeys", "deleteme"})
UNLISTED_BUTTONS = frozenset({"delkeys", "delme"})


def _command(update: Update) -> str | None:
    """The command a new message starts with (`/stop@bot args` -> `stop`), if any."""
    message = update.message
    text = message.text if message is not None else None
    if not text or not text.startswith("/"):
        return None
    return text.split(maxsplit=1)[0][1:].split("@", 1)[0].lower()


def _is_business(update: Update) -> bool:
    """Telegram Business traffic: chats the bot manages for someone else, never commands."""
    return any(
        (
            update.business_connection,
            update.business_message,
            update.edited_business_message,
            update.deleted_business_messages,
        )
    )


async def _refuse_edit(update: Update, context: BotContext) -> None:
    """An edit never re-runs a command or feeds a dialog; for those, say how to go on."""
    message = update.edited_message
    text = (message.text or message.caption or "") if message is not None else ""
    if text.startswith("/") or dialogs.current(context) is not None:
        await reply(update, common.edit_ignored())
    raise ApplicationHandlerStop


async def _refuse_unlisted(update: Update, context: BotContext) -> None:
    """Not (or no longer) on the allow-list: refuse, except the ways out of the bot."""
    query = update.callback_query
    action = (query.data or "").split("|", 1)[0] if query is not None else None
    if _command(update) in UNLISTED_COMMANDS or action in UNLISTED_BUTTONS:
        return
    if query is not None:
        await _answer_quietly(update)
    chat = update.effective_chat
    registered = chat is not None and await context.services.accounts.find(chat.id) is not None
    await reply(update, common.access_withdrawn() if registered else common.private_bot())
    raise ApplicationHandlerStop


async def _refuse_group(update: Update) -> None:
    if update.message is not None and (update.message.text or "").startswith("/"):
        await reply(update, _("I only work in private chats. Open a chat with me to use me."))
    elif update.callback_query is not None:
        await _answer_quietly(update, _("I only work in private chats."))
    raise ApplicationHandlerStop


async def gate(update: Update, context: BotContext) -> None:
    """Only new private messages and button presses of the chat's own user go on; refuse the
    rest politely (or silently, when nobody asked us anything) and stop."""
    new_update_started()
    user = update.effective_user
    set_locale(language_from_telegram(user.language_code if user else None))
    chat = update.effective_chat
    if _is_business(update) or chat is None or user is None:
        raise ApplicationHandlerStop
    if chat.type != ChatType.PRIVATE:
        await _refuse_group(update)
    if user.id != chat.id:  # a private chat belongs to one user; anyone else is not them
        raise ApplicationHandlerStop
    if update.edited_message is not None:
        await _refuse_edit(update, context)
    if update.message is None and update.callback_query is None:
        raise ApplicationHandlerStop  # reactions, polls, member updates: nothing to answer
    wait = throttled_for()
    if wait is not None:
        await _slow_down(update, wait)
    if not context.services.settings.allows(user.id):
        await _refuse_unlisted(update, context)
    message = update.message
    if message is not None and len(message.text or message.caption or "") > MAX_INPUT_CHARS:
        await reply(update, common.too_long(MAX_INPUT_CHARS))
        raise ApplicationHandlerStop


async def _slow_down(update: Update, wait: float) -> None:
    """Past the rate limit: one polite answer (the processor drops what follows)."""
    seconds = max(1, round(wait))
    if update.callback_query is not None:
        await _answer_quietly(update, common.slow_down(seconds))
    else:
        await reply(update, common.slow_down(seconds))
    raise ApplicationHandlerStop


async def load_account(update: Update, context: BotContext) -> None:
    """Find the chat's account and switch the locale to its language for this update."""
    chat = update.effective_chat
    if chat is None:
        return
    account = await context.services.accounts.find(chat.id)
    context.account = account
    if account is not None:
        set_locale(account.language)
        if account.blocked_bot:  # they wrote to us again: they unblocked the bot
            await context.services.accounts.mark_blocked(account.user_id, False)


async def verify_callback(update: Update, context: BotContext) -> None:
    """Every button press must carry data we signed for this chat, recently enough for its
    action; anything else has expired."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None:
        return
    verified = context.signer.verify(chat.id, query.data)
    if verified is None:
        await _answer_quietly(update, common.expired())
        raise ApplicationHandlerStop
    context.callback = verified


def install_gates(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    pasted_keys.register(application, SCREEN_GROUP)
    application.add_handler(TypeHandler(Update, gate), group=GATE_GROUP)
    application.add_handler(TypeHandler(Update, load_account), group=LOCALE_GROUP)
    application.add_handler(CallbackQueryHandler(verify_callback), group=CALLBACK_GROUP)

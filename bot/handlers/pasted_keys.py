"""Exchange keys pasted where they do not belong (outside the key dialog, on the /keys line,
in a group): deleted at once, and the user told, or told to delete and revoke it themselves."""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ApplicationHandlerStop, TypeHandler

from bot.handlers import dialogs
from bot.handlers.base import BotContext, reply
from bot.handlers.updates import throttled_for
from bot.services.keys import holds_key
from bot.views import keys as views


def pasted_text(update: object) -> str | None:
    """The text of a new or edited message (not Business traffic) that holds a key."""
    if not isinstance(update, Update):
        return None
    message = update.message or update.edited_message
    if message is None:
        return None
    text = message.text or message.caption
    return text if holds_key(text) else None


def _for_the_dialog(update: Update, context: BotContext) -> bool:
    """A new plain message at a step that asked for a secret: the dialog deletes it itself."""
    dialog = dialogs.current(context)
    message = update.message
    return (
        dialog is not None
        and not dialog.expired
        and dialog.step in dialog.secret_steps
        and message is not None
        and not (message.text or "").startswith("/")
    )


async def screen(update: Update, context: BotContext) -> None:
    """Delete a message that looks like an exchange key or secret, and say what happened."""
    if pasted_text(update) is None:
        return
    chat = update.effective_chat
    if chat is None:
        return
    if chat.type == ChatType.PRIVATE:
        user = update.effective_user
        if user is None or user.id != chat.id or _for_the_dialog(update, context):
            return
        deleted = await dialogs.delete_message(update)
        if deleted and throttled_for() is not None:
            # Over the rate limit: such messages are never dropped (the key must go), but a
            # flood of them must not buy a reply each.
            raise ApplicationHandlerStop
        await reply(
            update, views.pasted_key_deleted() if deleted else views.pasted_key_not_deleted()
        )
    else:
        deleted = await dialogs.delete_message(update)
        await reply(update, views.group_key_deleted() if deleted else views.group_key_not_deleted())
    raise ApplicationHandlerStop


def register(application: Application[Any, Any, Any, Any, Any, Any], group: int) -> None:
    application.add_handler(TypeHandler(Update, screen), group=group)

"""Multi-step dialogs (the key conversation): state per chat, timeout, /cancel, text router."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from telegram import Update
from telegram.ext import Application, CommandHandler, MessageHandler, filters

from bot.handlers.base import BotContext, handles_user_errors, reply
from bot.views import common

DIALOG_KEY = "dialog"
DIALOG_TIMEOUT_SECONDS = 300.0

StepHandler = Callable[[Update, BotContext, "Dialog"], Awaitable[None]]
_steps: dict[str, StepHandler] = {}
_timeouts: dict[str, Callable[[], str]] = {}


@dataclass
class Dialog:
    """Where a chat is in a dialog. Lives in memory only: secrets in it never reach a disk."""

    kind: str
    step: str
    values: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    secret_steps: frozenset[str] = frozenset()

    @property
    def expired(self) -> bool:
        return time.monotonic() - self.started > DIALOG_TIMEOUT_SECONDS

    def __repr__(self) -> str:  # values may hold a key: never show them
        return f"Dialog(kind={self.kind!r}, step={self.step!r})"


def on_step(kind: str, handler: StepHandler, timed_out: Callable[[], str]) -> None:
    """Register the handler of a dialog kind's text steps."""
    _steps[kind] = handler
    _timeouts[kind] = timed_out


def current(context: BotContext) -> Dialog | None:
    data = context.chat_data
    if data is None:
        return None
    dialog = data.get(DIALOG_KEY)
    return dialog if isinstance(dialog, Dialog) else None


def begin(context: BotContext, dialog: Dialog) -> None:
    if context.chat_data is not None:
        context.chat_data[DIALOG_KEY] = dialog


def end(context: BotContext) -> None:
    if context.chat_data is not None:
        context.chat_data.pop(DIALOG_KEY, None)


async def delete_message(update: Update) -> bool:
    """Delete the user's message (it may hold a secret); True when it is gone."""
    message = update.effective_message
    if message is None:
        return False
    try:
        return bool(await message.delete())
    except Exception:
        return False


@handles_user_errors
async def route_text(update: Update, context: BotContext) -> None:
    """Every non-command message: a dialog step if one is open, else 'not understood'."""
    dialog = current(context)
    if dialog is None:
        await reply(update, common.not_understood())
        return
    if dialog.expired:
        end(context)
        if dialog.step in dialog.secret_steps and not await delete_message(update):
            # It may be the secret the dialog asked for, and it is still in the chat.
            await reply(update, common.not_deleted())
        await reply(update, _timeouts[dialog.kind]())
        return
    await _steps[dialog.kind](update, context, dialog)


@handles_user_errors
async def cancel_command(update: Update, context: BotContext) -> None:
    """/cancel: leave any dialog; nothing is stored."""
    if current(context) is None:
        await reply(update, common.nothing_to_cancel())
        return
    end(context)
    await reply(update, common.cancelled())


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("cancel", cancel_command))
    application.add_handler(MessageHandler(~filters.COMMAND, route_text))

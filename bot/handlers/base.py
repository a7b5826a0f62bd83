"""Handler plumbing: typed context, the gates every update passes, locale per update, replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, TelegramError
from telegram.ext import CallbackContext, ExtBot

from bot.errors import TemporaryExchangeError, UserError
from bot.handlers.callbacks import CallbackSigner
from bot.i18n import _
from bot.services.accounts import Account
from bot.views import common

if TYPE_CHECKING:
    from bot.services.container import Services

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 4000  # longer messages are refused before any handler reads them


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """The callback context with typed access to the services and the current account."""

    account: Account | None = None
    callback: tuple[str, str] | None = None  # (action, payload) of a verified button press

    @property
    def services(self) -> Services:
        return cast("Services", self.application.bot_data["services"])

    @property
    def signer(self) -> CallbackSigner:
        return cast(CallbackSigner, self.application.bot_data["signer"])

    def button(self, text: object, action: str, payload: str = "") -> InlineKeyboardButton:
        """An inline button whose data is signed for the current chat."""
        chat_id = self._chat_id if self._chat_id is not None else 0
        return self.signer.button(str(text), chat_id, action, payload)

    def progress(self, update: Update) -> Progress:
        """Typing at once, an interim line if the exchange is slow: see Progress."""
        delay = self.services.settings.interim_after_seconds
        return Progress(update, common.waiting_for_exchange(), delay)

    def require_account(self) -> Account:
        if self.account is None:
            raise UserError("You are not registered yet. Send /start first.")
        return self.account


Handler = Callable[[Update, BotContext], Awaitable[Any]]
H = TypeVar("H", bound=Handler)


escape = common.escape  # HTML-escape anything that came from a user or an exchange


def user_error_text(error: UserError) -> str:
    """The error in the current locale: the message is a msgid, the params fill its fields."""
    params = {key: escape(value) for key, value in error.params.items()}
    return _(error.message).format(**params)


# Set while a main-menu button runs a command: the command's first reply replaces the menu
# message (with a way back to the menu) instead of adding one more message per tap.
_in_place: ContextVar[InlineKeyboardButton | None] = ContextVar("in_place", default=None)


@contextmanager
def replies_in_place(back: InlineKeyboardButton) -> Iterator[None]:
    """The first `reply` inside edits the pressed button's message and adds `back` to it."""
    token = _in_place.set(back)
    try:
        yield
    finally:
        _in_place.reset(token)


def _with_row(
    keyboard: InlineKeyboardMarkup | None, back: InlineKeyboardButton
) -> InlineKeyboardMarkup:
    rows = [list(row) for row in keyboard.inline_keyboard] if keyboard else []
    action = str(back.callback_data or "").split("|", 2)[:2]
    for row in rows:
        for button in row:
            if str(button.callback_data or "").split("|", 2)[:2] == action:
                return InlineKeyboardMarkup(rows)  # it has its own way back already
    return InlineKeyboardMarkup([*rows, [back]])


async def reply(
    update: Update,
    text: str,
    keyboard: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Answer in the chat of the update (a new message; callbacks edit through `edit`)."""
    chat = update.effective_chat
    if chat is None:
        return None
    back = _in_place.get()
    if back is not None and update.callback_query is not None:
        _in_place.set(None)  # only the first reply replaces the menu
        edited = await edit(update, text, _with_row(keyboard, back))
        return edited if isinstance(edited, Message) else None
    return await chat.send_message(
        common.fit_message(text), reply_markup=keyboard, disable_web_page_preview=True
    )


async def edit(
    update: Update, text: str, keyboard: InlineKeyboardMarkup | None = None
) -> Message | bool | None:
    """Replace the message a button belongs to; fall back to a new message if it is gone."""
    query = update.callback_query
    if query is None or query.message is None:
        return await reply(update, text, keyboard)
    try:
        return await query.edit_message_text(
            common.fit_message(text), reply_markup=keyboard, disable_web_page_preview=True
        )
    except BadRequest as error:
        if "not modified" in str(error).lower():
            return None
        return await reply(update, text, keyboard)


INTERIM_AFTER_SECONDS = 1.0


async def typing(update: Update) -> None:
    """Telegram's "typing…" in the chat: a courtesy, so it never fails the handler."""
    chat = update.effective_chat
    if chat is not None:
        try:
            await chat.send_action(ChatAction.TYPING)
        except TelegramError:
            pass


class Progress:
    """For an answer that waits on the exchange: "typing…" at once, and past about a second
    an interim line, which the answer then replaces (one message, not two)."""

    def __init__(self, update: Update, text: str, delay: float = INTERIM_AFTER_SECONDS) -> None:
        self.update = update
        self.text = text
        self.delay = delay
        self.interim: Message | None = None
        self._sleeping = True
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Progress:
        await typing(self.update)
        self._task = asyncio.create_task(self._later())
        return self

    async def __aexit__(self, _type: object, error: BaseException | None, _tb: object) -> bool:
        """A user error met while waiting answers in place of the interim line, too."""
        await self._settle()
        if isinstance(error, UserError) and self.interim is not None:
            await self.answer(user_error_text(error))
            return True
        return False

    async def _later(self) -> None:
        await asyncio.sleep(self.delay)
        self._sleeping = False  # from here on the interim line is sent, never cut halfway
        try:
            self.interim = await reply(self.update, self.text)
        except TelegramError:
            self.interim = None

    async def _settle(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        if self._sleeping:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def answer(self, text: str, keyboard: InlineKeyboardMarkup | None = None) -> None:
        """The answer: in place of the interim line if one was shown, else a new message."""
        await self._settle()
        if self.interim is not None:
            try:
                await self.interim.edit_text(
                    common.fit_message(text), reply_markup=keyboard, disable_web_page_preview=True
                )
                return
            except BadRequest:
                pass
        await reply(self.update, text, keyboard)


def handles_user_errors(func: H) -> H:
    """Turn a UserError raised by a service into a localized answer instead of a crash."""

    @wraps(func)
    async def wrapper(update: Update, context: BotContext) -> Any:
        try:
            return await func(update, context)
        except UserError as error:
            if update.callback_query is not None:
                await _answer_quietly(update)
            await reply(update, user_error_text(error))
            return None
        except TemporaryExchangeError:
            if update.callback_query is not None:
                await _answer_quietly(update)
            await reply(
                update,
                _(
                    "The exchange or market data is not answering right now. "
                    "Please try again in a minute."
                ),
            )
            return None

    return cast(H, wrapper)


async def confirmed(update: Update, context: BotContext) -> Account | None:
    """The account behind a Yes/No button press; on anything but Yes, say nothing changed."""
    account = context.require_account()
    _action, choice = context.callback or ("", "")
    await _answer_quietly(update)
    if choice != "yes":
        await edit(update, common.cancelled())
        return None
    return account


async def answer(update: Update, text: str | None = None) -> None:
    """Acknowledge a button press (stops the client's spinner); never fails the handler."""
    await _answer_quietly(update, text)


# Telegram wants one answer per button press; whichever layer answers first (a gate, the
# menu, a handler, the error path) wins, the rest are no-ops. The gate starts a fresh set for
# each update; the var lives in the update's task.
_answered: ContextVar[set[str] | None] = ContextVar("answered", default=None)


def new_update_started() -> None:
    """Called first for every update: nothing answered yet."""
    _answered.set(set())


async def _answer_quietly(update: Update, text: str | None = None) -> None:
    query = update.callback_query
    if query is None:
        return
    answered = _answered.get()
    if answered is None:
        answered = set()
        _answered.set(answered)
    if query.id in answered:
        return
    answered.add(query.id)
    try:
        await query.answer(text)
    except TelegramError:  # an old query can no longer be answered; nothing to do
        pass


async def expired_button(update: Update, _context: BotContext) -> None:
    """A genuine button whose dialog is over (a finished conversation, an old menu)."""
    await _answer_quietly(update, _("This button has expired."))


# --- errors nobody could foresee ---------------------------------------------------------------


async def on_error(update: object, context: BotContext) -> None:
    """Log with context (never secrets) and answer politely; a blocked user is marked instead."""
    error = context.error
    chat_id = (
        update.effective_chat.id if isinstance(update, Update) and update.effective_chat else None
    )
    if isinstance(error, Forbidden) and chat_id is not None:
        account = await context.services.accounts.find(chat_id)
        if account is not None:
            await context.services.accounts.mark_blocked(account.user_id, True)
        log.info("chat %s blocked the bot; marked", chat_id)
        return
    log.error(
        "unexpected error handling update %s (chat %s)",
        update.update_id if isinstance(update, Update) else None,
        chat_id,
        exc_info=error,
    )
    if isinstance(update, Update) and update.effective_chat is not None:
        try:
            await reply(
                update, _("Something went wrong on our side. Please try again in a minute.")
            )
        except TelegramError:
            log.warning("could not tell chat %s about the error", chat_id)

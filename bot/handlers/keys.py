"""/keys (exchange -> key -> secret [-> OKX passphrase], each secret message deleted),
/deletekeys and /cmckey."""

from __future__ import annotations

import logging
import math
from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import jobs
from bot.errors import (
    AuthenticationFailed,
    PermissionDenied,
    TemporaryExchangeError,
    ValidationError,
)
from bot.handlers import dialogs
from bot.handlers.base import (
    BotContext,
    answer,
    confirmed,
    edit,
    handles_user_errors,
    reply,
    typing,
)
from bot.handlers.dialogs import Dialog
from bot.log import register_candidate, register_secret
from bot.services.keys import TooManyKeyChecks, check_key_format, check_passphrase_format
from bot.services.venues import venue
from bot.views import keys as views

log = logging.getLogger(__name__)

KIND = "keys"
CMC_KIND = "cmckey"
SECRET_STEPS = frozenset({"key", "secret", "passphrase"})


@handles_user_errors
async def keys_command(update: Update, context: BotContext) -> None:
    """Start the key dialog: choose the exchange first."""
    account = context.require_account()
    if context.args:  # `/keys KEY SECRET` on one line: key material in the chat, delete it
        if not await dialogs.delete_message(update):
            await reply(update, views.pasted_key_not_deleted())
            return
        await reply(update, views.pasted_key_deleted())
    if not await _checks_left(update, context, account.user_id):
        return
    if len(views.EXCHANGES) == 1:  # nothing to choose: straight to the key
        code, name = views.EXCHANGES[0]
        _begin_key_step(context, code)
        await reply(update, views.ask_key(name))
        return
    dialogs.begin(context, Dialog(KIND, "exchange", secret_steps=SECRET_STEPS))
    await reply(update, views.choose_exchange(), views.exchange_keyboard(context.button))


def _begin_key_step(context: BotContext, exchange: str) -> None:
    """A fresh dialog waiting for the key (nothing secret carried over from an earlier try)."""
    dialog = Dialog(KIND, "key", secret_steps=SECRET_STEPS)
    dialog.values["exchange"] = exchange
    dialogs.begin(context, dialog)


async def _checks_left(update: Update, context: BotContext, user_id: int) -> bool:
    """False (and the user told when to come back) while key checks are used up."""
    try:
        context.services.keys.check_allowed(user_id)
    except TooManyKeyChecks as error:
        await reply(update, views.too_many_checks(max(1, math.ceil(error.retry_after / 60))))
        return False
    return True


@handles_user_errors
async def exchange_chosen(update: Update, context: BotContext) -> None:
    """The exchange button: now ask for the key."""
    context.require_account()
    dialog = dialogs.current(context)
    _action, exchange = context.callback or ("", "")
    await answer(update)
    if dialog is None or dialog.kind != KIND or dialog.expired:
        await edit(update, views.timed_out())
        return
    names = dict(views.EXCHANGES)
    if exchange not in names:
        raise ValidationError("Unsupported exchange. Choose one of the buttons.")
    dialog.values["exchange"] = exchange
    dialog.step = "key"
    await edit(update, views.ask_key(names[exchange]))


async def _secret_text(update: Update) -> tuple[str | None, bool]:
    """The text of a message that should hold a secret, and whether it is gone from the chat."""
    message = update.effective_message
    text = message.text if message is not None else None
    deleted = await dialogs.delete_message(update)
    if not deleted:
        log.warning(
            "could not delete a message holding a secret in chat %s",
            update.effective_chat.id if update.effective_chat else None,
        )
    return text, deleted


async def key_step(update: Update, context: BotContext, dialog: Dialog) -> None:
    """Text steps of the key dialog: the key, then the secret, then the check."""
    if dialog.step == "exchange":
        await reply(update, views.choose_exchange(), views.exchange_keyboard(context.button))
        return
    text, deleted = await _secret_text(update)
    if not deleted and dialog.step in ("secret", "passphrase"):
        # The secret is still in the chat: storing the key would bless a leaked secret.
        dialogs.end(context)
        await reply(update, views.secret_not_deleted())
        return
    warning = "" if deleted else views.key_not_deleted() + "\n\n"
    if not text:
        await reply(update, warning + views.text_expected())
        return
    if dialog.step == "passphrase":
        try:
            passphrase = check_passphrase_format(text)
        except ValidationError:
            await reply(update, views.bad_passphrase_format())
            return
        register_secret(passphrase)  # typed by a person: no shape tells it from other text
        await _connect(update, context, dialog, dialog.values["secret"], passphrase)
        return
    try:
        value = check_key_format(text)
    except ValidationError:
        await reply(update, warning + views.bad_key_format())
        return
    register_candidate(value)  # only well-formed text: junk must not crowd out real secrets
    if dialog.step == "key":
        dialog.values["api_key"] = value
        dialog.step = "secret"
        await reply(update, warning + views.ask_secret())
        return
    if venue(dialog.values["exchange"]).needs_passphrase:
        register_secret(value)
        dialog.values["secret"] = value
        dialog.step = "passphrase"
        await reply(update, views.ask_passphrase())
        return
    await _connect(update, context, dialog, value)


async def _connect(
    update: Update,
    context: BotContext,
    dialog: Dialog,
    secret: str,
    passphrase: str | None = None,
) -> None:
    account = context.require_account()
    exchange = dialog.values["exchange"]
    dialogs.end(context)  # whatever the check says, the secrets leave memory with the dialog
    if not await _checks_left(update, context, account.user_id):
        return
    await typing(update)
    await reply(update, views.checking())
    try:
        account = await context.services.keys.connect(
            account.user_id,
            exchange_id=exchange,
            api_key=dialog.values["api_key"],
            secret=secret,
            passphrase=passphrase,
        )
    except TooManyKeyChecks as error:
        await reply(update, views.too_many_checks(max(1, math.ceil(error.retry_after / 60))))
        return
    except PermissionDenied as error:
        why = views.refused(getattr(error, "reason", ""), exchange)
        await _try_again(update, context, exchange, why)
        return
    except AuthenticationFailed:
        await _try_again(update, context, exchange, views.auth_failed(exchange))
        return
    except TemporaryExchangeError:
        await reply(update, views.exchange_down())
        return
    ip = context.services.settings.public_ip
    if context.services.queue is not None:  # the IP of the workers that will use the key
        ip = await context.services.queue.public_ip(account.user_id) or ip
    await reply(update, views.connected(account, ip))


async def _try_again(update: Update, context: BotContext, exchange: str, why: str) -> None:
    """A rejected key: say why, and keep the dialog open for the next key (or /cancel)."""
    _begin_key_step(context, exchange)
    await reply(update, why + "\n\n" + views.send_key_again())


@handles_user_errors
async def deletekeys_command(update: Update, context: BotContext) -> None:
    """Ask before erasing the credentials."""
    account = context.require_account()
    if not account.has_keys:
        await reply(update, views.no_keys())
        return
    await reply(update, views.delete_confirm(), views.confirm_keyboard(context.button, "delkeys"))


@handles_user_errors
async def deletekeys_confirmed(update: Update, context: BotContext) -> None:
    account = await confirmed(update, context)
    if account is None:
        return
    jobs.cancel_job(context.application, account.user_id)
    await context.services.erasure.delete_keys(account.user_id)
    await edit(update, views.deleted())


@handles_user_errors
async def cmckey_command(update: Update, context: BotContext) -> None:
    """Store (or with `delete`, remove) an optional CoinMarketCap key."""
    account = context.require_account()
    args = [a.lower() for a in context.args or []]
    if args and args[0] in ("delete", "remove", "off"):
        await context.services.accounts.set_cmc_key(account.user_id, None)
        await reply(update, views.cmc_deleted())
        return
    if args:  # a key typed after the command: that message goes too
        _text, deleted = await _secret_text(update)
        await _store_cmc(update, context, " ".join(context.args or []), deleted)
        return
    dialogs.begin(context, Dialog(CMC_KIND, "key", secret_steps=frozenset({"key"})))
    await reply(update, views.ask_cmc_key())


async def _store_cmc(update: Update, context: BotContext, text: str, deleted: bool) -> None:
    """Check the key with one CoinMarketCap request, then store it; a rejected key is not."""
    account = context.require_account()
    if not deleted:
        dialogs.end(context)
        await reply(update, views.cmc_not_deleted())
        return
    try:
        value = check_key_format(text)
    except ValidationError:
        await reply(update, views.bad_key_format())
        return
    register_secret(value)  # the key alone, not the command around it
    dialogs.end(context)
    try:
        await context.services.marketcap.check_key(value)
    except AuthenticationFailed:
        await reply(update, views.cmc_rejected())
        return
    except TemporaryExchangeError:
        await reply(update, views.cmc_unavailable())
        return
    await context.services.accounts.set_cmc_key(account.user_id, value)
    await reply(update, views.cmc_saved())


async def cmc_step(update: Update, context: BotContext, _dialog: Dialog) -> None:
    text, deleted = await _secret_text(update)
    if not text and deleted:
        await reply(update, views.text_expected())
        return
    await _store_cmc(update, context, text or "", deleted)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    dialogs.on_step(KIND, key_step, views.timed_out)
    dialogs.on_step(CMC_KIND, cmc_step, views.timed_out)
    application.add_handler(CommandHandler("keys", keys_command))
    application.add_handler(CallbackQueryHandler(exchange_chosen, pattern=r"^keys_ex\|"))
    application.add_handler(CommandHandler("deletekeys", deletekeys_command))
    application.add_handler(CallbackQueryHandler(deletekeys_confirmed, pattern=r"^delkeys\|"))
    application.add_handler(CommandHandler("cmckey", cmckey_command))
